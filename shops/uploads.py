"""Checks for uploaded documents (appeal evidence, recovery review papers).

A file is accepted by its extension, its size and its first bytes, so a renamed file of
another kind is refused. Text types (CSV, TXT) only need to hold no NUL byte.
"""

from collections.abc import Iterable
from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

MB = 1024 * 1024
# Extension -> the bytes such a file starts with (None: text, which must hold no NUL byte).
SIGNATURES: dict[str, tuple[bytes, ...] | None] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "xlsx": (b"PK\x03\x04",),
    "csv": None,
    "txt": None,
}


def _type_list(types: Iterable[str]) -> str:
    names = list(dict.fromkeys("JPG" if t == "jpeg" else t.upper() for t in types))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def upload_checked(upload: UploadedFile, *, types: Iterable[str], max_bytes: int, label: str = "") -> str:
    """The file's lower-case extension once its type, size and first bytes are acceptable.

    ``label`` names the document in messages ("The explanation letter"); by default its file name.
    """
    types = list(types)
    name = PurePath(upload.name or "").name
    what = label or name
    extension = PurePath(name).suffix.lower().lstrip(".")
    if extension not in types:
        raise ValidationError(
            _("%(what)s must be a %(types)s file, not %(name)s."),
            code="file_type",
            params={"what": what, "types": _type_list(types), "name": name or "-"},
        )
    if not upload.size:
        raise ValidationError(_("%(what)s is empty."), code="file_empty", params={"what": what})
    if upload.size > max_bytes:
        raise ValidationError(
            _("%(what)s is %(size)s bytes; at most %(max)s MB is accepted."),
            code="file_too_large",
            params={"what": what, "size": upload.size, "max": max_bytes // MB},
        )
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    signatures = SIGNATURES[extension]
    if (b"\x00" in head) if signatures is None else not head.startswith(signatures):
        raise ValidationError(
            _("%(what)s is not a real %(type)s file."),
            code="file_content",
            params={"what": what, "type": "JPG" if extension == "jpeg" else extension.upper()},
        )
    return extension
