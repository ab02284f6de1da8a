"""The warehouse schemas goalsync reads and writes: one name each, used everywhere."""

RAW_SCHEMA = "ecosystems_raw"  # dlt's dataset: the Ecosystems records as received
DESTINATION_SCHEMA = "gainsight"  # the Gainsight-side objects jobs write
MODELS_SCHEMA = "custom_staging"  # custom jobs' dbt output before it is written
ACTIVITY_SCHEMA = "activity"  # runs, stages, counts, error records
