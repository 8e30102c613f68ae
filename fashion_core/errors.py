"""Exception types raised by fashion_core; each also inherits the matching builtin."""

from __future__ import annotations


class FashionCoreError(Exception):
    """Base class of every error fashion_core raises on purpose."""


class SchemaError(FashionCoreError, ValueError):
    """A category, value or schema definition is invalid or unknown."""


class LabelFileError(FashionCoreError, ValueError):
    """A label file as a whole cannot be read (wrong format, binary, empty).

    Attributes:
        path: The file that failed.
        line: The 1-based line number, when the problem sits on one line.
    """

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ImageError(FashionCoreError, ValueError):
    """An image file is missing, unreadable or not an image."""


class StoreError(FashionCoreError, RuntimeError):
    """The label store cannot do what was asked (unknown dataset, bad edit, ...)."""


class UnknownDatasetError(StoreError, KeyError):
    """No dataset of that name exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown dataset"


class WorkspaceVersionError(StoreError):
    """The workspace was written by a newer studio than this one (its store version is unknown here)."""


class LabelMapError(FashionCoreError, ValueError):
    """A label map is malformed or does not fit the dataset's schema."""


class ExportError(FashionCoreError, OSError):
    """An export (folder tree, TFRecord, model) cannot be written where it was asked to go."""


class DownloadError(FashionCoreError, RuntimeError):
    """A download as a whole cannot run (bad list file, output folder unusable)."""


class UnsafeURLError(FashionCoreError, ValueError):
    """A URL was refused by the downloader's safety rules."""


class ModelError(FashionCoreError, RuntimeError):
    """A model cannot be built, loaded or trusted (unknown backbone, hash mismatch, ...)."""


class WeightsUnavailableError(ModelError):
    """Pretrained weights cannot be obtained (offline, missing file)."""


class JobError(FashionCoreError, RuntimeError):
    """A background run cannot be started, found or cancelled."""


class UnreadableFileError(LabelFileError):
    """An input file or folder is missing or cannot be read (permissions, I/O error)."""


class WorkspaceError(StoreError):
    """The workspace or its database cannot be used: the path, what is wrong and what to do.

    The message is written for a person (the CLI prints it, the app shows it in a banner).

    Attributes:
        path: The file or folder concerned.
        problem: What is wrong, in a few words.
        advice: What to do about it.
    """

    def __init__(self, path: str, problem: str, advice: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.advice = advice
        super().__init__(f"{self.path}: {problem}. {advice}")


class ReadOnlyWorkspaceError(WorkspaceError, PermissionError):
    """The workspace (or its database) cannot be written."""


class DiskFullError(WorkspaceError, OSError):
    """No space is left to write the workspace's files."""


class CorruptStoreError(WorkspaceError):
    """The label store file is damaged, truncated or not a database."""


class StoreBusyError(WorkspaceError):
    """Another process held the label store's write lock for longer than the busy time-out."""


class InstallError(FashionCoreError, FileNotFoundError):
    """A file the studio ships with (the app's pages, assets) is missing: a broken install."""


class AccountError(FashionCoreError, ValueError):
    """An account cannot be made, changed or used (unknown user, bad role, wrong password)."""


class AccessDeniedError(AccountError, PermissionError):
    """The signed-in identity's role does not allow the action (says which role would)."""


class EditConflictError(StoreError):
    """Someone else changed a label after the person saving saw it: who, when and to what."""


class UnsafePathError(FashionCoreError, ValueError):
    """A name or path would leave the folder it must stay in (traversal, a symlink out, a bad name)."""


class ServeConfigError(FashionCoreError, RuntimeError):
    """The app may not be served as asked (another address without accounts)."""
