"""Session-state keys shared across pages (small values only: selections and ids)."""

DATASET = "app_dataset"  # name of the dataset chosen in the sidebar
ANNOTATOR = "app_annotator"  # name recorded with every label edit
