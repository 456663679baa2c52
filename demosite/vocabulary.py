"""Words for the generated articles: enough variety for realistic lengths, tags and sources."""

from __future__ import annotations

import random
import re
import unicodedata

from demosite.seed import LABELS

SECTIONS = ("News", "Politics", "War", "Economy", "World", "Opinion")
AUTHORS = ("Olena Kovalenko", "Taras Melnyk", "Iryna Shevchuk", "Andrii Bondar",
           "Kateryna Lysenko", "Dmytro Hnatiuk", "Maria Savchenko", "Serhii Tkachenko")

TAGS = (
    "Ukraine", "Russia", "NATO", "Donald Trump", "Volodymyr Zelenskyy", "European Union",
    "Sanctions", "Drones", "F-16", "Air defense", "Energy", "Kharkiv", "Donetsk region",
    "Zaporizhzhia", "Crimea", "Black Sea", "Peace talks", "Economy", "Poland", "Germany",
    "United States", "Military aid", "Pokrovsk", "Kursk region", "Elections",
)
# The site's tag pages use Latin slugs, also for Ukrainian tag names.
_UK_TAG_SLUGS = {"Україна": "ukraina", "Росія": "rosiia", "Санкції": "sanktsii",
                 "Дрони": "drony", "Енергетика": "enerhetyka"}
TAGS_UK = tuple(_UK_TAG_SLUGS)

TEMPLATE_KEYS = ("client/title.list_title", "client/news.read_more", "common/article.share_title")

_ACTORS = ("Zelenskyy", "NATO's chief", "The EU", "Ukraine's top general", "The Pentagon",
           "Poland", "Germany's chancellor", "Ukrainian forces", "The Kremlin", "Kyiv's mayor",
           "The IAEA", "Ukraine's navy", "The White House", "Ukraine's air force")
_VERBS = ("warns of", "welcomes", "rejects", "announces", "discusses", "reports",
          "calls for", "prepares", "confirms", "denies", "plans", "criticizes")
_OBJECTS = ("new sanctions against Moscow", "air defense deliveries", "a ceasefire proposal",
            "drone attacks on energy facilities", "security guarantees for Ukraine",
            "a new aid package", "a ceasefire monitoring mission", "strikes on Russian refineries",
            "grain exports via the Black Sea", "mobilization changes", "F-16 operations",
            "reconstruction funding", "pressure on the front line")
_PLACES = ("Kharkiv", "Odesa", "Kyiv", "Zaporizhzhia", "Sumy", "Dnipro", "Brussels",
           "Washington", "Warsaw", "Pokrovsk", "Kherson", "Lviv")
SOURCES = (  # outlets the generated articles cite
    "Reuters", "Bloomberg", "Associated Press", "The Guardian", "Politico",
            "The Kyiv Independent", "Ukrainska Pravda", "Financial Times")
_SOURCE_FORMS = ("according to {s}", "{s} reported", "{s} writes", "as {s} reported")
_SENTENCES = (
    "{actor} {verb} {obj}, officials in {place} said on {day}.",
    "The statement came after a night of attacks on {place}.",
    "{actor} said the decision would be reviewed in the coming weeks.",
    "Analysts note that {obj} remains a key question for {place}.",
    "Local authorities in {place} reported no casualties.",
    "The situation near {place} remains difficult, the military said.",
    "Earlier, {actor} {verb} {obj}.",
    "Talks in {place} are expected to continue next week.",
    "The figures could not be independently verified.",
    "{actor} described the move as a step toward long-term security.",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SUBHEADINGS = ("What is known", "Context", "Reaction", "Background", "What comes next")
_CAPTIONS = ("Illustrative photo", "Photo: General Staff of the Armed Forces of Ukraine",
             "Photo: Office of the President", "Photo: Reuters")

_UK_TITLES = ("Сили оборони відбили атаки біля {place}", "У {place} пролунали вибухи",
              "Уряд ухвалив нове рішення щодо енергетики", "Партнери передадуть Україні ППО")
_UK_SENTENCES = ("Про це повідомили в Генштабі ЗСУ.", "Ситуація залишається складною.",
                 "Посадовці закликали жителів залишатися в укриттях.",
                 "Деталі уточнюються.", "Партнери обіцяють нову допомогу найближчим часом.")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def tag_slug(name: str) -> str:
    return _UK_TAG_SLUGS.get(name) or slugify(name)


def _fill(rng: random.Random, template: str) -> str:
    return template.format(actor=rng.choice(_ACTORS), verb=rng.choice(_VERBS),
                           obj=rng.choice(_OBJECTS), place=rng.choice(_PLACES),
                           day=rng.choice(_DAYS))


def title(rng: random.Random, lang: str = "en") -> str:
    if lang == "uk":
        return rng.choice(_UK_TITLES).format(place=rng.choice(_PLACES))
    text = _fill(rng, "{actor} {verb} {obj}")
    if rng.random() < 0.3:
        text += f" — {rng.choice(SOURCES)}"
    return text


def subtitle(rng: random.Random, lang: str = "en") -> str:
    if lang == "uk":
        return rng.choice(_UK_SENTENCES)
    return _fill(rng, rng.choice(_SENTENCES))


def _paragraph(rng: random.Random, lang: str) -> str:
    if lang == "uk":
        return " ".join(rng.choice(_UK_SENTENCES) for _ in range(rng.randint(2, 4)))
    sentences = [_fill(rng, rng.choice(_SENTENCES)) for _ in range(rng.randint(2, 5))]
    if rng.random() < 0.25:
        form = rng.choice(_SOURCE_FORMS).format(s=rng.choice(SOURCES))
        sentences.insert(0, f"{form[0].upper()}{form[1:]}, the talks will resume soon.")
    return " ".join(sentences)


def body(rng: random.Random, lang: str = "en") -> tuple[tuple[str, str], ...]:
    blocks = [("p", _paragraph(rng, lang)) for _ in range(rng.randint(3, 12))]
    if lang == "en" and len(blocks) > 4 and rng.random() < 0.4:
        blocks.insert(rng.randint(2, len(blocks) - 1), ("h2", rng.choice(_SUBHEADINGS)))
    if lang == "en" and rng.random() < 0.2:
        blocks += [("li", _fill(rng, rng.choice(_SENTENCES))) for _ in range(rng.randint(1, 3))]
    return tuple(blocks)


def update_note(rng: random.Random) -> str:
    return f"Update: {_fill(rng, rng.choice(_SENTENCES))}"


def tags(rng: random.Random, lang: str = "en") -> tuple[str, ...]:
    if rng.random() < 0.12:
        return ()
    pool = TAGS_UK if lang == "uk" else TAGS
    return tuple(rng.sample(pool, rng.randint(1, min(5, len(pool)))))


def labels(rng: random.Random) -> tuple[str, ...]:
    roll = rng.random()
    editorial = [label for label in LABELS if label != "Updated"]
    return (editorial[0],) if roll < 0.12 else (editorial[1],) if roll < 0.16 else ()


def image(rng: random.Random) -> tuple[str, str] | None:
    return (_fill(rng, "{place}, illustrative photo"), rng.choice(_CAPTIONS)) \
        if rng.random() < 0.7 else None


def authors(index: int, seed: int) -> tuple[str, ...]:
    """One byline in five is shared by two. Its own generator, so that adding bylines left
    every other generated value as it was."""
    rng = random.Random(f"authors-{seed}-{index}")
    return tuple(rng.sample(AUTHORS, 2 if rng.random() < 0.2 else 1))
