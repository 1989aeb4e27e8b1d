"""The one check of a preset name (`check_preset`), which `KRElectraKDConfig.from_preset` and the commands share."""

import pytest

from modeling_kr_electra_kd import PRESETS, KRElectraKDConfig, check_preset


def test_known_presets_pass_and_unknown_ones_name_the_choices():
    for name in PRESETS:
        check_preset(name)
    with pytest.raises(ValueError) as caught:
        check_preset("small-lf-v9")
    assert str(caught.value) == f"Unknown preset 'small-lf-v9'; choose one of: {', '.join(PRESETS)}."


def test_the_message_names_the_option_and_from_preset_uses_the_same_check():
    with pytest.raises(ValueError, match=r"^Unknown student preset 'big'; choose one of: teacher-base, "):
        check_preset("big", "student preset")
    with pytest.raises(ValueError) as from_config:
        KRElectraKDConfig.from_preset("big")
    with pytest.raises(ValueError) as from_check:
        check_preset("big")
    assert str(from_config.value) == str(from_check.value)
