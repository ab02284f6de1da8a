"""Deterministic record generator of the sandbox, and the Gainsight seeds that go with it.

Every base record is computed from its index on demand (nothing is stored), so a million
KPIs cost no memory. Base `updated_at` is non-decreasing in the index, which makes the
served order (updated_at, id) the index order.
"""

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from extract.sandbox import catalog, clock
from extract.sandbox.pools import POOL_MASK, Pools

DEFAULT_SEED = 7
ENDPOINTS: tuple[str, ...] = ("documents", "value_drivers", "kpis")
ID_PREFIXES = {"documents": "doc_", "value_drivers": "vd_", "kpis": "kpi_"}
ORPHAN_VALUE_DRIVER_ID = "vd_0000000"  # ids start at 1, so this value driver never exists
# New records each mutation round adds (updates and deletes scale with the data instead).
ADDED_PER_ROUND = {"documents": 1, "value_drivers": 2, "kpis": 5}

COMPANY_COLUMNS = ("gsid", "name", "sfdc_account_id", "industry", "arr", "status")
GS_USER_COLUMNS = ("gsid", "name", "email", "is_active")

# The first records carry whole numbers only: a loader that infers column types from the
# first page must still accept the decimals that follow.
WHOLE_NUMBER_RECORDS = 100
_SPAN = clock.BASE_END - clock.BASE_START
_THREE_DIGITS = tuple(f"{k:03d}" for k in range(1000))
_CATEGORIES = len(catalog.VALUE_DRIVER_CATALOG)


def _ceil_div(a: int, b: int) -> int:
    return -(a // -b)


@dataclass(frozen=True)
class SandboxScale:
    """How many base records each endpoint serves."""

    documents: int = 80
    value_drivers: int = 320
    kpis: int = 1200

    def __post_init__(self) -> None:
        if min(self.documents, self.value_drivers, self.kpis) < 1:
            raise ValueError("every endpoint needs at least one record")
        if max(self.documents, self.value_drivers, self.kpis) > 9_000_000:
            raise ValueError("the sandbox serves at most 9,000,000 records per endpoint")

    @classmethod
    def for_kpis(cls, kpis: int) -> "SandboxScale":
        """Scale with one document per 20 KPIs and one value driver per 4 KPIs."""
        return cls(documents=max(1, kpis // 20), value_drivers=max(1, kpis // 4), kpis=kpis)

    def count(self, endpoint: str) -> int:
        return getattr(self, endpoint)


class SandboxData:
    """Base records of one (scale, seed): JSON text of record n, computed on demand."""

    def __init__(self, scale: SandboxScale, seed: int = DEFAULT_SEED) -> None:
        self.scale = scale
        self.seed = seed
        self.pools = Pools(seed)
        widths = {
            "documents": max(6, len(str(scale.documents + 10_000))),
            "value_drivers": max(7, len(str(scale.value_drivers + 10_000))),
            "kpis": max(7, len(str(scale.kpis + 10_000))),
        }
        self._id_formats = {e: f"{ID_PREFIXES[e]}%0{w}d" for e, w in widths.items()}
        # id = head(n // 1000) + three digits: one cheap lookup per record on the hot path
        self._id_heads = {e: f"{ID_PREFIXES[e]}%0{w - 3}d" for e, w in widths.items()}

    # --- ids, parents and times -------------------------------------------------------

    def count(self, endpoint: str) -> int:
        return self.scale.count(endpoint)

    def id_of(self, endpoint: str, n: int) -> str:
        return self._id_formats[endpoint] % n

    def index_of(self, endpoint: str, record_id: str) -> int | None:
        """Index n of an id of this endpoint's format (base or added), else None."""
        prefix = ID_PREFIXES[endpoint]
        digits = record_id[len(prefix) :]
        if not record_id.startswith(prefix) or not digits.isdigit():
            return None
        n = int(digits)
        return n if n >= 1 and self.id_of(endpoint, n) == record_id else None

    def updated_at(self, endpoint: str, n: int) -> int:
        """Base `updated_at` (UTC seconds); every fifth record ties with the one before it.

        The text builders inline this formula: change them together."""
        return clock.BASE_START + (n - 2 if n % 5 == 2 else n - 1) * _SPAN // self.count(endpoint)

    def document_of_value_driver(self, n: int) -> int:
        return (n - 1) * self.scale.documents // self.scale.value_drivers + 1

    def has_no_kpis(self, value_driver: int) -> bool:
        """Value drivers that never get a KPI (an edge case the goal grain must keep)."""
        # `_kpi_texts` inlines the `== 4 or % 61 == 29` test: change both together.
        return self.scale.value_drivers >= 8 and (value_driver == 4 or value_driver % 61 == 29)

    def value_driver_of_kpi(self, n: int) -> int:
        """Parent index of KPI n; 0 is the orphan parent that never exists."""
        if n % 100_000 == 7:
            return 0
        return self._kpi_parent((n - 1) * self.scale.value_drivers // self.scale.kpis + 1)

    def account_of_document(self, n: int) -> catalog.Account:
        accounts = catalog.ACCOUNTS
        return accounts[((n - 1) * 17 + self.seed) % len(accounts)]

    def category_of_value_driver(self, n: int) -> int:
        return self.pools.noise["value_drivers"](n) % _CATEGORIES

    # --- records ----------------------------------------------------------------------

    def texts(self, endpoint: str, indices: Sequence[int]) -> list[str]:
        """JSON text of the base records with these indices."""
        if endpoint == "kpis":
            return self._kpi_texts(indices)
        if endpoint == "value_drivers":
            return self._value_driver_texts(indices)
        return [orjson.dumps(self.document(n)).decode() for n in indices]

    def text(self, endpoint: str, n: int) -> str:
        return self.texts(endpoint, [n])[0]

    def record(self, endpoint: str, n: int) -> dict[str, Any]:
        """Base record n as a dict (for mutations and tests; serving uses `texts`)."""
        return orjson.loads(self.text(endpoint, n))

    def iter_records(self, endpoint: str) -> Iterator[dict[str, Any]]:
        for n in range(1, self.count(endpoint) + 1):
            yield self.record(endpoint, n)

    def kpi_is_whole(self, n: int) -> bool:
        """Whether KPI n carries whole numbers (decided per base parent, page-independent)."""
        base_parent = (n - 1) * self.scale.value_drivers // self.scale.kpis + 1
        return base_parent * self.scale.kpis <= WHOLE_NUMBER_RECORDS * self.scale.value_drivers

    def kpi_created_at(self, n: int) -> int:
        """KPIs are created with their document: one `created_at` per document, a day or
        more before the first of its KPIs is updated (so never after any of them)."""
        documents, drivers, kpis = self.scale.documents, self.scale.value_drivers, self.scale.kpis
        document = ((n - 1) * drivers // kpis) * documents // drivers + 1
        first_driver = _ceil_div((document - 1) * drivers, documents) + 1
        first_kpi = _ceil_div((first_driver - 1) * kpis, drivers) + 1  # its first KPI
        h = self.pools.noise["documents"](document)
        return self.updated_at("kpis", first_kpi) - 86400 * (1 + (h >> 9) % 20) - h % 86400

    def _kpi_texts(self, indices: Sequence[int]) -> list[str]:
        # The hot path of the 1M-KPI benchmark. `kpi_reference_text` builds the same record
        # the readable way (a test holds them equal); here all is inlined with local names,
        # and what depends on the parent or the document is computed once per parent or
        # document.
        noise = self.pools.noise
        low, high = noise["kpis"].low, noise["kpis"].high
        driver_low, driver_high = noise["value_drivers"].low, noise["value_drivers"].high
        document_low, document_high = noise["documents"].low, noise["documents"].high
        bodies = self.pools.kpi_bodies
        head_format, driver_format = self._id_heads["kpis"], self._id_formats["value_drivers"]
        documents, drivers, kpis = self.scale.documents, self.scale.value_drivers, self.scale.kpis
        whole_limit, span, mask = WHOLE_NUMBER_RECORDS * drivers, _SPAN, POOL_MASK
        start, epoch = clock.BASE_START, clock.EPOCH
        days, times, three = clock.DAYS, clock.TIMES_OF_DAY, _THREE_DIGITS
        suffixes = clock.OFFSET_SUFFIXES
        local_starts = [start + shift - epoch for shift in clock.OFFSET_SHIFTS]
        last_base_parent = last_document = last_thousand = -1
        middle = created = head = ""
        pool: list[str] = []
        out: list[str] = []
        append = out.append
        for n in indices:
            base_parent = (n - 1) * drivers // kpis + 1
            if base_parent != last_base_parent:
                last_base_parent = parent = base_parent
                if parent == 4 or parent % 61 == 29:
                    parent = self._kpi_parent(parent)
                middle = '","value_driver_id":"' + driver_format % parent + '",'
                pool = bodies[base_parent * kpis <= whole_limit][
                    (driver_low[parent & 0xFFFF] ^ driver_high[(parent >> 16) & 1023]) % _CATEGORIES
                ]
                document = (base_parent - 1) * documents // drivers + 1
                if document != last_document:  # see kpi_created_at
                    last_document = document
                    first = (
                        _ceil_div(_ceil_div((document - 1) * drivers, documents) * kpis, drivers)
                        + 1
                    )
                    h = document_low[document & 0xFFFF] ^ document_high[(document >> 16) & 1023]
                    day, second = divmod(
                        (first - 2 if first % 5 == 2 else first - 1) * span // kpis
                        + start
                        - 86400 * (1 + (h >> 9) % 20)
                        - h % 86400
                        - epoch,
                        86400,
                    )
                    created = f',"created_at":"{days[day]}{times[second]}Z","updated_at":"'
            if n // 1000 != last_thousand:
                last_thousand = n // 1000
                head = head_format % last_thousand
            h = low[n & 0xFFFF] ^ high[(n >> 16) & 1023]
            k = h & 15
            day, second = divmod(
                local_starts[k] + (n - 2 if n % 5 == 2 else n - 1) * span // kpis, 86400
            )
            if n % 211 == 19 or n % 100_000 == 7:  # rare edge cases: unknown field, orphan
                append(self.kpi_reference_text(n))
                continue
            append(
                f'{{"id":"{head}{three[n % 1000]}{middle}{pool[(h >> 4) & mask]}{created}'
                f'{days[day]}{times[second]}{suffixes[k]}","deleted_at":null}}'
            )
        return out

    def _kpi_parent(self, base_parent: int) -> int:
        parent = base_parent
        while self.has_no_kpis(parent):
            parent = parent + 1 if parent < self.scale.value_drivers else parent - 1
        return parent

    def kpi_reference_text(self, n: int) -> str:
        """KPI n built the plain way; `_kpi_texts` must produce exactly this text."""
        h = self.pools.noise["kpis"](n)
        parent = self.value_driver_of_kpi(n)
        if parent:
            parent_id = self.id_of("value_drivers", parent)
            category = self.category_of_value_driver(parent)
        else:
            parent_id, category = ORPHAN_VALUE_DRIVER_ID, h % _CATEGORIES
        body = self.pools.kpi_bodies[self.kpi_is_whole(n)][category][(h >> 4) & POOL_MASK]
        created = clock.render(self.kpi_created_at(n), clock.UTC_Z)
        updated = clock.render(self.updated_at("kpis", n), clock.OFFSETS[h & 15])
        extra = ',"x_extra":{"a":1}' if n % 211 == 19 else ""
        return (
            f'{{"id":"{self.id_of("kpis", n)}","value_driver_id":"{parent_id}",{body},'
            f'"created_at":"{created}","updated_at":"{updated}","deleted_at":null{extra}}}'
        )

    def _value_driver_texts(self, indices: Sequence[int]) -> list[str]:
        # 250,000 value drivers ride along with a million KPIs: names bound locally, and
        # what depends on the document computed once per document.
        noise, pools = self.pools.noise["value_drivers"], self.pools
        driver_names, money = pools.driver_names, pools.money
        driver_format = self._id_formats["value_drivers"]
        offsets, render = clock.OFFSETS, clock.render
        documents, drivers = self.scale.documents, self.scale.value_drivers
        last_document, document_part = -1, ""
        out = []
        for n in indices:
            h = noise(n)
            document = (n - 1) * documents // drivers + 1
            if document != last_document:
                last_document = document
                currency = self.account_of_document(document).currency
                document_part = f'","document_id":"{self.id_of("documents", document)}",'
                currency_part = f',"currency":"{currency}","realization_calendar":'
            names = driver_names[h % _CATEGORIES]
            if n == 9:  # edge case: no benefit entered yet
                total, calendar = "null", "[]"
            else:
                total, calendar = money[n <= WHOLE_NUMBER_RECORDS][(h >> 4) & POOL_MASK]
            offset = offsets[(h >> 13) & 15]
            updated = clock.BASE_START + (n - 2 if n % 5 == 2 else n - 1) * _SPAN // drivers
            created = updated - 86400 * (1 + (h >> 17) % 20) - (h >> 3) % 3600
            extra = ',"x_extra":{"a":1}' if n % 43 == 17 else ""
            out.append(
                f'{{"id":"{driver_format % n}{document_part}{names[(h >> 21) % len(names)]},'
                f'"total_benefit":{total}{currency_part}{calendar},'
                f'"created_at":"{render(created, offset)}",'
                f'"updated_at":"{render(updated, offset)}","deleted_at":null{extra}}}'
            )
        return out

    def document(self, n: int) -> dict[str, Any]:
        """Base document n (documents are few, so a dict serialised by orjson is fast enough)."""
        h = self.pools.noise["documents"](n)
        account = self.account_of_document(n)
        users = catalog.USERS
        solution = catalog.SOLUTIONS[(h >> 4) % len(catalog.SOLUTIONS)]
        doc_type, label = catalog.DOCUMENT_TYPES[h % len(catalog.DOCUMENT_TYPES)]
        offset = clock.OFFSETS[(h >> 13) & 15]
        updated = self.updated_at("documents", n)
        created = updated - 86400 * (1 + (h >> 17) % 45) - (h >> 7) % 7200
        opportunity = None
        if (h >> 24) % 6:
            opportunity = {
                "name": f"{account.name} – {solution} Expansion",
                "crm_opportunity_id": catalog.sfdc_id("006", (n * 104_729 + self.seed) % 62**5),
            }
        record: dict[str, Any] = {
            "id": self.id_of("documents", n),
            "name": f"{account.name} — {solution} {label} 2026",
            "type": doc_type,
            "status": ("draft", "published", "published", "published", "archived")[(h >> 8) % 5],
            "currency": account.currency,
            "account": {
                "name": account.name,
                "crm_account_id": None if n == 5 or n % 997 == 0 else account.crm_account_id,
            },
            "opportunity": opportunity,
            "created_at": clock.render(created, offset),
            "created_by": None
            if n % 29 == 3
            else users[(n * 7 + self.seed) % len(users)].as_json(),
            "updated_at": clock.render(updated, offset),
            "last_updated_by": None
            if n % 31 == 4
            else users[(n * 11 + self.seed + 3) % len(users)].as_json(),
            "deleted_at": None,
        }
        if n % 41 == 13:
            record["x_extra"] = {"a": 1}
        return record


def served_counts(scale: SandboxScale, rounds: int = 0) -> dict[str, int]:
    """Records a full listing of each endpoint returns after `rounds` mutations (tombstones too)."""
    return {
        endpoint: scale.count(endpoint) + rounds * ADDED_PER_ROUND[endpoint]
        for endpoint in ENDPOINTS
    }


# --- Gainsight seeds ------------------------------------------------------------------


def gainsight_seed_rows() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(company rows, gs_user rows) matching the sandbox, with the deliberate misfits.

    Misfits: one account has no company; one user's email differs in case; two gs_user rows
    share one email (the lowest gsid wins a lookup); one user has no gs_user row.
    """
    companies = [
        {
            "gsid": catalog.gainsight_gsid("2", account.crm_account_id),
            "name": account.name,
            "sfdc_account_id": account.crm_account_id,
            "industry": "" if account.name == "Pied Piper" else account.industry,
            "arr": str(account.arr),
            "status": "Churned"
            if account.name in ("Vandelay Industries", "Bluth Company")
            else "Active",
        }
        for account in catalog.ACCOUNTS
        if account.name != catalog.ACCOUNT_MISSING_IN_GAINSIGHT
    ]
    # A Gainsight company that no Salesforce account links to: an empty id matches nothing.
    companies.append(
        {
            "gsid": catalog.gainsight_gsid("2", "prospect:Kepler Maritime"),
            "name": "Kepler Maritime",
            "sfdc_account_id": "",
            "industry": "Logistics",
            "arr": "",
            "status": "Prospect",
        }
    )
    other_case = dict([catalog.USER_EMAIL_OTHER_CASE])
    users = [
        {
            "gsid": catalog.gainsight_gsid("1", f"user:{user.email}"),
            "name": user.name,
            "email": other_case.get(user.email, user.email),
            "is_active": "true",
        }
        for user in catalog.USERS
        if user.email != catalog.USER_MISSING_IN_GAINSIGHT
    ]
    users.append(
        {
            "gsid": catalog.gainsight_gsid("1", f"user-legacy:{catalog.USER_EMAIL_SHARED}"),
            "name": "Dana Reyes (legacy SSO)",
            "email": catalog.USER_EMAIL_SHARED,
            "is_active": "false",
        }
    )
    users.append(
        {
            "gsid": catalog.gainsight_gsid("1", "user:gainsight.admin"),
            "name": "Gainsight Admin",
            "email": "cs-ops@customer.example",
            "is_active": "true",
        }
    )
    return companies, users


def seed_csv(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    """CSV text with a header, `\\n` line ends and minimal quoting (commas, quotes, newlines)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_seeds(directory: Path) -> list[Path]:
    """Write `company.csv` and `gs_user.csv` into `directory`; returns the paths."""
    companies, users = gainsight_seed_rows()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows, columns in (
        ("company.csv", companies, COMPANY_COLUMNS),
        ("gs_user.csv", users, GS_USER_COLUMNS),
    ):
        path = directory / name
        path.write_text(seed_csv(rows, columns), encoding="utf-8")
        written.append(path)
    return written
