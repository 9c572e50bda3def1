"""Territorial DIM: the PMSI MCO activity of the whole group (docs/dim.md).

format: the declarative description of ATIH's fixed-width RSS formats; parser: each line
checked field by field against it; store: the import (whole or not at all, a period replaced);
linkage: each stay attached to its GHT patient; pseudonym: the keyed pseudonym of non-nominative
outputs; analysis: the indicators (DuckDB); export: CSV and Parquet."""
