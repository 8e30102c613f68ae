"""Build step: ship the app's files inside the package (the rest of the metadata is in pyproject.toml).

A checkout keeps app.py, pages/, ui/, assets/ and .streamlit/ at the top level, where
`streamlit run app.py` and `make run` use them; a built wheel carries a copy in
fashion_core/_app/, where an installed studio finds them (fashion_core/app_files.py).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
APP_FILES = ("app.py", "pages", "ui", "assets", ".streamlit/config.toml")


class BuildWithApp(build_py):
    """``build_py`` that also copies the app's files into ``fashion_core/_app``."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "fashion_core" / "_app"
        for name in APP_FILES:
            source, copy = HERE / name, target / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, copy, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, copy)


setup(cmdclass={"build_py": BuildWithApp})
