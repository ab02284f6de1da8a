"""Fixed reference lists of the sandbox: accounts, users, solutions and KPI archetypes.

They do not depend on the seed, so the Gainsight seeds agree with the sandbox for any seed.
"""

import hashlib
from dataclasses import dataclass

_SFDC_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_GSID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_UPPERCASE_AS_ONE = str.maketrans({c: ("1" if c.isupper() else "0") for c in _ID_ALPHABET})


@dataclass(frozen=True)
class Account:
    """A customer account as Ecosystems shows it, with its Salesforce account id."""

    name: str
    crm_account_id: str
    currency: str
    industry: str
    arr: int


@dataclass(frozen=True)
class User:
    """A vendor-side Ecosystems user (author of documents)."""

    id: str
    name: str
    email: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "email": self.email}


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _encode(digest: bytes, alphabet: str, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(alphabet))
        chars.append(alphabet[rest])
    return "".join(chars)


def sfdc_checksum(short_id: str) -> str:
    """The 3-character case-safe suffix of a 15-character Salesforce id: per 5-character
    chunk, bit i is set when character i is uppercase."""
    bits = short_id.translate(_UPPERCASE_AS_ONE)
    return "".join(
        _SFDC_CHECKSUM_ALPHABET[int(bits[chunk : chunk + 5][::-1], 2)] for chunk in (0, 5, 10)
    )


def sfdc_id(key_prefix: str, number: int) -> str:
    """An 18-character Salesforce id; distinct numbers below 62**5 give distinct ids."""
    chars = []
    for _ in range(5):
        number, rest = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[rest])
    short = f"{key_prefix}5g00000{''.join(chars)}"
    return short + sfdc_checksum(short)


def gainsight_gsid(object_code: str, key: str) -> str:
    """A 36-character Gainsight-style GSID: `1P0<object code>` + 32 uppercase base-36 chars."""
    return f"1P0{object_code}{_encode(_digest(f'{object_code}:{key}'), _GSID_ALPHABET, 32)}"


# (name, currency, industry, ARR). Names carry Unicode, commas, quotes and apostrophes on
# purpose: every one of them must survive CSV, JSON and SQL unchanged.
_ACCOUNT_ROWS: tuple[tuple[str, str, str, int], ...] = (
    ("Acme Corp", "USD", "Manufacturing", 2_400_000),
    ("Globex Corporation", "USD", "Energy", 5_750_000),
    ("Initech", "USD", "Software", 310_000),
    ("Umbrella Health Systems", "USD", "Healthcare", 1_980_000),
    ("Müller & Söhne GmbH", "EUR", "Manufacturing", 870_000),
    ("株式会社サンプル", "JPY", "Retail", 125_000_000),
    ("Smith, Jones & Partners LLP", "GBP", "Professional Services", 460_000),
    ('The "Blue Ocean" Company', "USD", "Logistics", 1_120_000),
    ("O'Brien Logistics Ltd.", "EUR", "Logistics", 390_000),
    ("Société Lumière d'Équipement SA", "EUR", "Manufacturing", 2_050_000),
    ("Nordlicht Energie AG", "EUR", "Energy", 3_300_000),
    ("Hooli", "USD", "Software", 9_900_000),
    ("Vandelay Industries", "USD", "Retail", 240_000),
    ("Stark Manufacturing Inc.", "USD", "Manufacturing", 12_500_000),
    ("Wayne Logistics", "USD", "Logistics", 4_100_000),
    ("Cyberdyne Analytics", "USD", "Software", 1_450_000),
    ("Soylent Foods, Inc.", "USD", "Consumer Goods", 680_000),
    ("Tyrell Biotech", "USD", "Healthcare", 2_760_000),
    ("Wonka Confectionery Ltd", "GBP", "Consumer Goods", 530_000),
    ("Oceanic Airlines", "USD", "Travel", 6_200_000),
    ("Pied Piper", "USD", "Software", 150_000),
    ("Dunder Mifflin Paper Co.", "USD", "Wholesale", 95_000),
    ("Gringotts Financial Services", "GBP", "Financial Services", 7_800_000),
    ("Zürich Präzision AG", "CHF", "Manufacturing", 1_300_000),
    ("São Paulo Comércio Ltda.", "BRL", "Retail", 4_900_000),
    ("Ærø Shipping ApS", "DKK", "Logistics", 2_200_000),
    ("Северный Пример ООО", "EUR", "Energy", 610_000),
    ("北京示例科技有限公司", "CNY", "Software", 8_800_000),
    ("Łódź Software Sp. z o.o.", "PLN", "Software", 1_050_000),
    ("Initrode Systems", "USD", "Telecommunications", 3_600_000),
    ("Massive Dynamic", "USD", "Telecommunications", 15_000_000),
    ("Prestige Worldwide", "USD", "Media", 45_000),
    ("Bluth Company", "USD", "Real Estate", 720_000),
    ("Sterling Cooper Draper Pryce", "USD", "Media", 1_640_000),
    ("Contoso Ltd", "USD", "Software", 2_900_000),
    ("Fabrikam, Inc.", "USD", "Manufacturing", 1_270_000),
    ("Northwind Traders", "USD", "Wholesale", 830_000),
    ("Tailspin Toys", "USD", "Consumer Goods", 410_000),
    ("Wide World Importers", "USD", "Wholesale", 1_760_000),
    ("Adventure Works Cycles", "USD", "Retail", 990_000),
)

ACCOUNTS: tuple[Account, ...] = tuple(
    Account(
        name,
        sfdc_id("001", int.from_bytes(_digest(f"account:{name}"), "big") % 62**5),
        currency,
        industry,
        arr,
    )
    for name, currency, industry, arr in _ACCOUNT_ROWS
)

_USER_ROWS: tuple[tuple[str, str], ...] = (
    ("Dana Reyes", "dana.reyes@vendor.example"),
    ("Lee Park", "lee.park@vendor.example"),
    ("Priya Natarajan", "priya.natarajan@vendor.example"),
    ("Marco Rossi", "marco.rossi@vendor.example"),
    ("Zoë Łukasiewicz", "zoe.lukasiewicz@vendor.example"),
    ("Seán O'Connor", "sean.oconnor@vendor.example"),
    ("Aiko Tanaka (田中 愛子)", "aiko.tanaka@vendor.example"),
    ("Fatima Al-Sayed", "fatima.alsayed@vendor.example"),
    ("Jonas Becker", "jonas.becker@vendor.example"),
    ("Chloé Martin", "chloe.martin@vendor.example"),
    ("Kwame Mensah", "kwame.mensah@vendor.example"),
    ('Olivia "Liv" Chen', "olivia.chen@vendor.example"),
    ("Rahul Mehta", "rahul.mehta@vendor.example"),
    ("Sofia García", "sofia.garcia@vendor.example"),
    ("Tom Whitaker", "tom.whitaker@vendor.example"),
)

USERS: tuple[User, ...] = tuple(
    User(f"usr_{number}", name, email) for number, (name, email) in enumerate(_USER_ROWS, 1)
)

# Deliberate misfits between the sandbox and the Gainsight seeds (see data.gainsight_seed_rows).
ACCOUNT_MISSING_IN_GAINSIGHT = "Prestige Worldwide"
USER_MISSING_IN_GAINSIGHT = "priya.natarajan@vendor.example"
USER_EMAIL_OTHER_CASE = ("lee.park@vendor.example", "Lee.Park@Vendor.Example")
USER_EMAIL_SHARED = "dana.reyes@vendor.example"

SOLUTIONS: tuple[str, ...] = (
    "Cloud Migration",
    "Data Platform",
    "Service Automation",
    "Sales Intelligence",
    "Security Operations",
    "Finance Cloud",
    "Customer Success Platform",
    "Observability",
)

DOCUMENT_TYPES: tuple[tuple[str, str], ...] = (
    ("business_case", "Business Case"),
    ("value_assessment", "Value Assessment"),
    ("value_realization", "Value Realization"),
)

# (category, ((value driver name, solution), ...)); names may hold quotes and newlines.
VALUE_DRIVER_CATALOG: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Cost Reduction",
        (
            ("Reduce infrastructure cost", "Cloud Migration"),
            ("Consolidate software licenses", "License Optimization"),
            ("Lower support cost per ticket", "Service Automation"),
            ('Reduce "shadow IT" spend', "IT Asset Management"),
            ("Automate invoice matching\nacross regions", "AP Automation"),
        ),
    ),
    (
        "Revenue Growth",
        (
            ("Increase win rate", "Sales Intelligence"),
            ("Grow average deal size", "CPQ"),
            ("Expand cross-sell revenue", "Customer Success Platform"),
            ("Accelerate time to market", "Product Analytics"),
        ),
    ),
    (
        "Risk Mitigation",
        (
            ("Reduce security incidents", "Security Operations"),
            ("Avoid compliance penalties", "GRC Suite"),
            ("Lower unplanned downtime", "Observability"),
        ),
    ),
    (
        "Productivity",
        (
            ("Automate management reporting", "Data Platform"),
            ("Reduce employee onboarding time", "Learning Platform"),
            ("Faster month-end close", "Finance Cloud"),
        ),
    ),
    (
        "Customer Experience",
        (
            ("Improve first-contact resolution", "Service Cloud"),
            ("Increase customer satisfaction", "Customer Success Platform"),
            ("Reduce customer churn", "Customer Success Platform"),
        ),
    ),
)

# Per category: (KPI name, unit, direction, typical baseline); same order as the catalog above.
KPI_ARCHETYPES: tuple[tuple[tuple[str, str, str, float], ...], ...] = (
    (
        ("Monthly cloud spend", "USD", "decrease", 52_000.0),
        ("Cost per support ticket", "USD", "decrease", 18.5),
        ("Software license spend", "USD", "decrease", 240_000.0),
        ("Manual invoices per month", "count", "decrease", 3_200.0),
        ("Average handle time\n(phone + chat)", "minutes", "decrease", 11.5),
    ),
    (
        ("Win rate", "%", "increase", 22.0),
        ("Average deal size", "USD", "increase", 48_000.0),
        ("Cross-sell revenue", "USD", "increase", 1_250_000.0),
        ("Annual revenue influenced", "USD", "increase", 2_750_000_000.0),
    ),
    (
        ("Security incidents per quarter", "count", "decrease", 14.0),
        ('Tickets tagged "urgent"', "count", "decrease", 420.0),
        ("Unplanned downtime", "hours", "decrease", 36.0),
    ),
    (
        ("Report preparation time", "hours", "decrease", 120.0),
        ("Employee onboarding time", "days", "decrease", 21.0),
        ("Days to close the books", "days", "decrease", 9.0),
    ),
    (
        ("First-contact resolution", "%", "increase", 64.0),
        ("Net Promoter Score", "score", "increase", -12.0),
        ("Customer churn rate", "%", "decrease", 8.5),
    ),
)
