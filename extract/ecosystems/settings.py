"""Constants of the Ecosystems source: endpoints, page size, retry policy and record shapes."""

from dataclasses import dataclass

import pyarrow as pa

DEFAULT_BASE_URL = "https://api.ecosystems.io/v1"
PAGE_SIZE = 1000
# pages go to dlt in tables of about this many rows: dlt's cost per table is fixed
ROWS_PER_BATCH = 10_000
# Ecosystems commits writes up to 5 minutes late, so a listing can later return a record
# older than the newest one served: every run reads this window before the cursor again.
# 0 reads only from the cursor on, and misses every record committed late.
LOOKBACK_SECONDS = 300.0

# requests in flight at once over all listings; a 429 halves it for a while (slices.py)
PARALLEL_REQUESTS = 8
# a listing is read in parallel `updated_since` slices when its first page says that at
# least this many records and SLICE_MIN_PAGES pages follow; a slice is split again while it
# has SLICE_MIN_PAGES pages ahead
SLICE_MIN_RECORDS = 10_000
SLICE_MIN_PAGES = 4

REQUEST_TIMEOUT_SECONDS = 60.0
REQUEST_MAX_ATTEMPTS = 6  # the contract asks for at least 4 retries on 429/5xx
REQUEST_BACKOFF_FACTOR = 0.5
REQUEST_MAX_RETRY_DELAY_SECONDS = 60.0  # caps the server's Retry-After


@dataclass(frozen=True)
class EndpointSpec:
    """How one list endpoint's records land in their raw table."""

    name: str
    strings: tuple[str, ...] = ()
    doubles: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ("created_at", "updated_at", "deleted_at")
    # nested objects flattened into `<object>__<field>` columns
    objects: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # lists kept as JSON text exactly as received (text columns: portable, parsed by dbt)
    json_lists: tuple[str, ...] = ()
    # fields the contract guarantees on a live record; a missing one is reported, not fatal
    required: tuple[str, ...] = ("updated_at",)

    @property
    def path(self) -> str:
        return self.name

    @property
    def arrow_schema(self) -> pa.Schema:
        """Declared column types: never inferred from the first page."""
        # the primary key is never null: records without an id are dropped before this
        fields = [pa.field(name, pa.string(), nullable=name != "id") for name in self.strings]
        fields += [
            pa.field(f"{obj}__{key}", pa.string()) for obj, keys in self.objects for key in keys
        ]
        fields += [pa.field(name, pa.float64()) for name in self.doubles]
        fields += [pa.field(name, pa.string()) for name in self.json_lists]
        fields += [pa.field(name, pa.timestamp("us", tz="UTC")) for name in self.timestamps]
        return pa.schema(fields)


_USER_FIELDS = ("id", "name", "email")

DOCUMENTS = EndpointSpec(
    name="documents",
    strings=("id", "name", "type", "status", "currency"),
    objects=(
        ("account", ("name", "crm_account_id")),
        ("opportunity", ("name", "crm_opportunity_id")),
        ("created_by", _USER_FIELDS),
        ("last_updated_by", _USER_FIELDS),
    ),
)
VALUE_DRIVERS = EndpointSpec(
    name="value_drivers",
    strings=("id", "document_id", "name", "solution", "category", "currency"),
    doubles=("total_benefit",),
    json_lists=("realization_calendar",),
    required=("updated_at", "document_id"),
)
KPIS = EndpointSpec(
    name="kpis",
    strings=("id", "value_driver_id", "name", "unit", "direction"),
    doubles=("baseline", "target"),
    json_lists=("actuals",),
    required=("updated_at", "value_driver_id"),
)

ENDPOINTS: tuple[EndpointSpec, ...] = (DOCUMENTS, VALUE_DRIVERS, KPIS)
ENDPOINTS_BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
