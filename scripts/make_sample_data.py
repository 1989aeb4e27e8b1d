"""Write the small Korean sample the package ships (training/data), from phrases written for this project.

The quickstart needs Korean text that installs with the package: an unlabeled corpus and a sentiment task in NSMC's
format. Nothing here is copied from NSMC or any other dataset; the phrases below were written for kr-electra-kd and
combined with a fixed seed, so the files are reproducible:

    python scripts/make_sample_data.py

So that the quickstart's table tells systems apart (a task every system scores 100.0 on shows nothing), the last
HELD_OUT phrases of each polarity never occur in a labelled training review: they occur in the unlabeled corpus, in
reviews beside phrases and endings of their own polarity, and in half of the test reviews, with no ending that gives
the label away. Those reviews can only be classified from what the corpus says about their words, which is what
pre-training (and the teacher's starting embeddings) reads and a TF-IDF classifier trained on the labels cannot.
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
POSITIVE = [
    "정말 재미있었어요",
    "배우들의 연기가 훌륭했다",
    "끝까지 눈을 뗄 수 없었다",
    "음악이 아름다워서 감동했어요",
    "다시 보고 싶을 만큼 좋았다",
    "올해 본 영화 중 최고였다",
    "스토리가 탄탄하고 연출이 세련됐다",
    "마지막 장면에서 눈물이 났어요",
    "웃다가 울다가 시간 가는 줄 몰랐다",
    "배우들의 호흡이 완벽했다",
    "영상미가 뛰어나고 분위기가 좋았다",
    "가족과 함께 보기에 딱 좋았어요",
    "기대 이상으로 감동적이었다",
    "강력 추천합니다",
    "여운이 오래 남는 좋은 영화였다",
    "주인공의 성장이 인상 깊었다",
    "대사 하나하나가 마음에 남았다",
    "긴장감이 넘치고 전개가 시원했다",
    "유쾌하고 따뜻한 이야기였어요",
    "감독의 연출력이 빛났다",
]
NEGATIVE = [
    "너무 지루했어요",
    "스토리가 엉망이었다",
    "돈이 아까웠다",
    "중간에 잠들어 버렸다",
    "연기가 어색해서 몰입이 안 됐다",
    "뻔한 전개에 실망했어요",
    "시간 낭비였다",
    "결말이 허무하고 어이없었다",
    "기대했는데 너무 실망스러웠다",
    "다시는 보고 싶지 않다",
    "대사가 유치하고 오글거렸다",
    "편집이 엉성해서 산만했다",
    "억지 감동이라 불편했어요",
    "개연성이 전혀 없었다",
    "최악의 영화였다",
    "러닝타임이 너무 길고 늘어졌다",
    "음악만 시끄럽고 내용이 없었다",
    "캐릭터가 매력이 하나도 없었다",
    "광고에 속았어요",
    "보는 내내 답답했다",
]
POSITIVE_TAILS = [
    "",
    " 최고!",
    " 추천해요.",
    " 또 볼래요.",
    " 별 다섯 개.",
    " 10점 만점에 10점.",
    " ㅎㅎ",
    " 감사합니다.",
]
NEGATIVE_TAILS = ["", " 비추.", " 별 하나도 아깝다.", " 1점.", " 환불하고 싶다.", " 실망.", " ㅠㅠ", " 아쉽네요."]

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


# Phrases of each polarity kept out of the labelled training reviews (see the module docstring).
HELD_OUT = 6


def phrases_of(positive: bool, part: str) -> list[str]:
    """A polarity's phrases: `labelled` (those the training reviews use), `held-out` (the last HELD_OUT) or `all`."""
    phrases = POSITIVE if positive else NEGATIVE
    return {"labelled": phrases[:-HELD_OUT], "held-out": phrases[-HELD_OUT:], "all": phrases}[part]


def review(rng: random.Random, positive: bool, part: str = "labelled", tail: bool = True) -> str:
    """A review of one polarity from `part`'s phrases (one or two), ending with a giveaway tail when `tail`."""
    phrases = phrases_of(positive, part)
    first = rng.choice(phrases)
    text = f"{rng.choice(SUBJECTS)} {first}."
    if rng.random() < 0.5:
        second = rng.choice([p for p in phrases if p != first])
        text += f" {second}."
    return text + (rng.choice(POSITIVE_TAILS if positive else NEGATIVE_TAILS) if tail else "")


def labelled_rows(rng: random.Random, count: int, seen: set[str], part: str, tail: bool) -> list[tuple[str, int]]:
    """`count` distinct balanced (text, label) rows, none already in `seen` (which they join)."""
    rows: list[tuple[str, int]] = []
    while len(rows) < count:
        label = len(rows) % 2
        text = review(rng, bool(label), part, tail)
        if text not in seen:
            seen.add(text)
            rows.append((text, label))
    return rows


def main() -> None:
    rng = random.Random(20261124)
    nsmc = OUT / "sample_nsmc"
    nsmc.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    train = labelled_rows(rng, 800, seen, "labelled", tail=True)
    # half the test reviews like the training ones, half from the held-out phrases with no giveaway ending
    test = labelled_rows(rng, 100, seen, "labelled", tail=True) + labelled_rows(rng, 100, seen, "held-out", tail=False)
    rng.shuffle(train)
    rng.shuffle(test)
    for name, part, offset in (("ratings_train.txt", train, 1), ("ratings_test.txt", test, 9001)):
        lines = ["id\tdocument\tlabel"] + [f"{offset + i}\t{text}\t{label}" for i, (text, label) in enumerate(part)]
        (nsmc / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    corpus = [review(rng, positive=rng.random() < 0.5, part="all") for _ in range(1500)]
    corpus += [rng.choice(DAILY) + " " + rng.choice(DAILY) for _ in range(300)]
    corpus += [rng.choice(NEWS) for _ in range(200)]
    rng.shuffle(corpus)
    (OUT / "sample_corpus.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
