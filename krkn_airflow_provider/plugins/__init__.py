"""The provider's Airflow UI plugin: a read-only page of runs, their undo records and reports."""
