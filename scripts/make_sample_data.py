"""Write the small Korean sample the package ships (training/data), from phrases written for this project.

The quickstart needs Korean text that installs with the package: an unlabeled corpus and a sentiment task in NSMC's
format. Nothing here is copied from NSMC or any other dataset; the phrases below were written for kr-electra-kd and
combined with a fixed seed, so the files are reproducible:

    python scripts/make_sample_data.py
"""

from __future__ import annotations

import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "training" / "data"

SUBJECTS = [
    "이 영화",
    "그 영화",
    "이번 작품",
    "이 드라마",
    "감독의 신작",
    "그 애니메이션",
    "이 다큐멘터리",
    "오늘 본 영화",
    "주말에 본 영화",
    "이 시리즈",
    "속편",
    "원작 소설을 옮긴 영화",
    "이 공포 영화",
    "그 로맨스 영화",
    "이 액션 영화",
    "가족 영화",
    "이 코미디",
    "그 뮤지컬 영화",
    "독립 영화",
    "이 범죄 스릴러",
]
# Each aspect: its subject and two predicates, (stem, past stem) of the positive and of the negative one. A clause says
# one of them plainly ("연기가 자연스러웠다"), negated ("연기가 자연스럽지 않았다", "연기가 안 어색했다": the
# other polarity), or as the conceded half of a contrast ("연기가 어색했지만 ..."), so every predicate occurs in both
# classes and the label depends on negation and on which clause a contrast puts last.
ASPECTS = [
    ("연기가", ("자연스럽", "자연스러웠"), ("어색하", "어색했")),
    ("스토리가", ("탄탄하", "탄탄했"), ("엉성하", "엉성했")),
    ("음악이", ("좋", "좋았"), ("시끄럽", "시끄러웠")),
    ("결말이", ("감동적이", "감동적이었"), ("허무하", "허무했")),
    ("전개가", ("시원하", "시원했"), ("답답하", "답답했")),
    ("영상미가", ("아름답", "아름다웠"), ("평범하", "평범했")),
    ("대사가", ("인상적이", "인상적이었"), ("유치하", "유치했")),
    ("캐릭터가", ("매력적이", "매력적이었"), ("밋밋하", "밋밋했")),
    ("편집이", ("깔끔하", "깔끔했"), ("산만하", "산만했")),
    ("러닝타임이", ("알맞", "알맞았"), ("길", "길었")),
    ("내용이", ("재미있", "재미있었"), ("지루하", "지루했")),
    ("연출이", ("세련되", "세련됐"), ("촌스럽", "촌스러웠")),
]
# Shared by both classes: openings and endings that say nothing about the label.
OPENINGS = [
    "",
    "주말에 친구랑 봤는데 ",
    "기대 없이 봤는데 ",
    "큰 화면으로 봤다. ",
    "예고편을 보고 골랐다. ",
    "오랜만에 극장에 갔다. ",
    "원작을 읽고 봤는데 ",
    "가족과 함께 봤다. ",
]
ENDINGS = ["", " ㅋㅋ", " ...", " 제 생각은 그래요.", " 참고하세요.", " 그냥 그렇다는 얘기.", " 흠"]
CONTRASTS = [("", "그런데 "), ("", "하지만 "), ("처음에는 ", "그런데 갈수록 "), ("솔직히 ", "그래도 ")]
# The share of rows whose label is drawn at random (half of them end up wrong): real review labels are noisy too.
NOISY_LABELS = 0.06


def clause(rng: random.Random, aspect: tuple, positive: bool, conceded: bool = False) -> str:
    """One clause about `aspect` with the given polarity; `conceded`: the first half of "A지만 B"."""
    subject, good, bad = aspect
    end = "지만" if conceded else "다"
    form = rng.random()
    if form < 0.5:  # said plainly
        return f"{subject} {(good if positive else bad)[1]}{end}"
    stem, past = bad if positive else good  # the other polarity, negated
    if form < 0.75:
        return f"{subject} {stem}지 않았{end}"
    if not positive and form < 0.85:
        return f"{subject} {stem}지 못했{end}"
    return f"{subject} 안 {past}{end}"


def review(rng: random.Random, positive: bool) -> str:
    """A review whose label is `positive`: one or two agreeing clauses, or a contrast whose last clause decides."""
    first, second = rng.sample(ASPECTS, 2)
    structure = rng.random()
    if structure < 0.25:
        body = f"{clause(rng, first, positive)}."
    elif structure < 0.45:
        body = f"{clause(rng, first, positive)}. {clause(rng, second, positive)}."
    elif structure < 0.7:
        body = f"{clause(rng, first, not positive, conceded=True)} {clause(rng, second, positive)}."
    else:
        before, after = rng.choice(CONTRASTS)
        body = f"{before}{clause(rng, first, not positive)}. {after}{clause(rng, second, positive)}."
    subject = rng.choice(SUBJECTS)
    topic = f"{subject}{'은' if (ord(subject[-1]) - 0xAC00) % 28 else '는'} " if rng.random() < 0.4 else ""
    return rng.choice(OPENINGS) + topic + body + rng.choice(ENDINGS)


DAILY = [
    "오늘은 날씨가 맑아서 공원에 산책을 다녀왔습니다.",
    "내일은 비가 온다고 하니 우산을 챙기세요.",
    "주말마다 친구들과 함께 축구를 합니다.",
    "회의는 오후 세 시에 시작할 예정입니다.",
    "서울에서 부산까지 기차로 세 시간 정도 걸립니다.",
    "도서관에서 빌린 책을 다 읽었어요.",
    "새로 생긴 카페의 커피가 꽤 맛있었다.",
    "고양이가 창가에서 햇볕을 쬐며 자고 있다.",
    "연휴에는 고향에 내려가 가족들을 만날 계획이다.",
    "운동을 꾸준히 하면 건강이 좋아집니다.",
    "아침에 일찍 일어나서 요가를 했다.",
    "지하철이 늦게 와서 회사에 지각할 뻔했다.",
    "김치찌개와 된장찌개 중에 무엇을 먹을지 고민이다.",
    "봄이 오면 벚꽃을 보러 여의도에 가고 싶다.",
    "한강에서 자전거를 타니 기분이 상쾌했다.",
    "시험이 끝나서 오랜만에 푹 잤어요.",
    "동생이 생일 선물로 목도리를 사 주었다.",
    "저녁에는 가족과 함께 드라마를 봤다.",
    "새 휴대폰은 배터리가 오래 가서 좋다.",
    "택배가 예정보다 하루 일찍 도착했다.",
]
NEWS = [
    "정부는 내년 예산안을 국회에 제출했다고 밝혔다.",
    "인공지능 기술이 산업 전반에 빠르게 확산되고 있다.",
    "올해 겨울은 평년보다 춥고 눈이 많을 것으로 예상된다.",
    "지역 축제에 주말 동안 많은 관광객이 몰렸다.",
    "새로운 지하철 노선이 다음 달 개통될 예정이다.",
    "국내 연구진이 배터리 수명을 늘리는 기술을 개발했다.",
    "한국 영화가 국제 영화제에서 작품상을 받았다.",
    "전문가들은 꾸준한 운동이 건강에 중요하다고 강조했다.",
    "도서관 이용객이 지난해보다 크게 늘었다.",
    "시민들은 새로 문을 연 공원에 만족을 나타냈다.",
]


def main() -> None:
    rng = random.Random(20261124)
    nsmc = OUT / "sample_nsmc"
    nsmc.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    rows: list[tuple[str, int]] = []
    while len(rows) < 1000:
        label = len(rows) % 2  # balanced; a noisy row's text has a polarity drawn at random instead of its label's
        text = review(rng, positive=bool(label) if rng.random() >= NOISY_LABELS else rng.random() < 0.5)
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    rng.shuffle(rows)
    for name, part, offset in (("ratings_train.txt", rows[:800], 1), ("ratings_test.txt", rows[800:], 9001)):
        lines = ["id\tdocument\tlabel"] + [f"{offset + i}\t{text}\t{label}" for i, (text, label) in enumerate(part)]
        (nsmc / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    corpus = [review(rng, positive=rng.random() < 0.5) for _ in range(1500)]
    corpus += [rng.choice(DAILY) + " " + rng.choice(DAILY) for _ in range(300)]
    corpus += [rng.choice(NEWS) for _ in range(200)]
    rng.shuffle(corpus)
    (OUT / "sample_corpus.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
