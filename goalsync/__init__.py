"""goalsync: Ecosystems value-selling data into Gainsight-style Customer Goals tables."""
