"""Thread counts follow the CPUs the process may use and how busy they are; a user's own settings win."""

from __future__ import annotations

import pytest
import torch

from training import cli, threads

SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """set(cpus=, machine_cpus=, running=, quota=): the affinity mask, the machine's cores, the runnable tasks the
    kernel reports (this process included) and a cgroup cpu.max line. Environment and torch's count are restored."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_SET_HERE", {})
    original_threads = torch.get_num_threads()

    def set_machine(cpus: int, machine_cpus: int | None = None, running: int = 1, quota: str | None = None) -> None:
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
        monkeypatch.setattr(threads.os, "cpu_count", lambda: machine_cpus or cpus)
        stat = tmp_path / "stat"
        stat.write_text(f"cpu  1 2 3\nprocs_running {running}\nprocs_blocked 0\n")
        monkeypatch.setattr(threads, "PROC_STAT", stat)
        cpu_max = tmp_path / "cpu.max"
        cpu_max.write_text(quota or "max 100000\n")
        monkeypatch.setattr(threads, "CGROUP_CPU_MAX", cpu_max)

    yield set_machine
    torch.set_num_threads(original_threads)


def test_one_usable_cpu_means_one_torch_thread_and_no_tokenizer_parallelism(machine):
    machine(cpus=1, machine_cpus=64)  # a 64-core machine, this process pinned to one core
    plan = threads.configure_threads()
    assert (plan.usable_cpus, plan.threads) == (1, 1)
    assert torch.get_num_threads() == 1 and threads.os.environ["OMP_NUM_THREADS"] == "1"
    assert (
        threads.os.environ["TOKENIZERS_PARALLELISM"] == "false" and threads.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    )


def test_cpus_busy_with_other_processes_are_left_to_them(machine):
    machine(cpus=4, running=3)  # two other runnable processes
    plan = threads.configure_threads()
    assert (plan.usable_cpus, plan.busy_cpus, plan.threads) == (4, 2, 2) and torch.get_num_threads() == 2
    assert threads.os.environ["RAYON_NUM_THREADS"] == "2" and "TOKENIZERS_PARALLELISM" not in threads.os.environ
    machine(cpus=2, running=5)  # more busy processes than CPUs: still one thread
    assert threads.configure_threads().threads == 1 and torch.get_num_threads() == 1
    # the next command on a quiet machine (quickstart's next step) is not held to what the last call set
    machine(cpus=4, running=1)
    assert threads.configure_threads().threads == 4 and torch.get_num_threads() == 4
    assert threads.os.environ["RAYON_NUM_THREADS"] == "4" and "TOKENIZERS_PARALLELISM" not in threads.os.environ


def test_a_cgroup_cpu_quota_caps_the_affinity_mask(machine):
    machine(cpus=8, quota="150000 100000\n")  # a container allowed 1.5 CPUs
    assert threads.plan_threads().usable_cpus == 1


def test_the_users_own_settings_are_respected(machine, monkeypatch):
    machine(cpus=1, running=4)
    torch.set_num_threads(3)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    plan = threads.configure_threads()
    assert plan.user_set and plan.threads == 3 and torch.get_num_threads() == 3
    environ = threads.os.environ
    assert (environ["OMP_NUM_THREADS"], environ["TOKENIZERS_PARALLELISM"], environ["OMP_WAIT_POLICY"]) == (
        "3",
        "true",
        "ACTIVE",
    )


def test_every_command_starts_through_it(machine):
    machine(cpus=1, machine_cpus=16)
    assert cli.main(["tasks"]) == 0
    assert threads.os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
