"""Label files to the store: one reader per source format, one canonical table, one all-or-nothing import."""

from fashion_core.ingest.fashionai import encode_code, read_fashionai
from fashion_core.ingest.folders import read_folders
from fashion_core.ingest.generic_csv import read_generic_csv
from fashion_core.ingest.images import verify_images
from fashion_core.ingest.importer import ImportReport, import_labels, refuse_existing
from fashion_core.ingest.jd import read_jd
from fashion_core.ingest.table import Rejection

__all__ = [
    "ImportReport", "Rejection", "encode_code", "import_labels", "read_fashionai", "read_folders",
    "read_generic_csv", "read_jd", "refuse_existing", "verify_images",
]
