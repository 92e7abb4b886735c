"""Composing a message: addresses, bodies, attachments streamed from files,
descriptors, file objects or callbacks."""
from __future__ import annotations

import ctypes
import enum
import io
import os
from typing import Any, BinaryIO, Callable, List, Optional, Union

from . import _native as N
from ._handle import Handle
from .errors import check, stash

PathLike = Union[str, bytes, "os.PathLike[str]"]
BytesLike = Union[bytes, bytearray, memoryview]
#: A producer for attach_stream(): called with (offset, max_bytes), returns bytes (b"" at end).
Producer = Callable[[int, int], bytes]
#: Optional progress observer for attach_stream(): called with the bytes read so far.
Progress = Callable[[int], None]


class Kind(enum.IntEnum):
    TO = 0
    CC = 1
    BCC = 2


class Dsn(enum.IntFlag):
    SUCCESS = 1
    FAILURE = 2
    DELAY = 4
    NEVER = 8


class DsnRet(enum.IntEnum):
    DEFAULT = 0
    FULL = 1
    HDRS = 2


RENDER_8BIT = 1


def _buffer(data: BytesLike) -> "tuple[Any, int]":
    """A pointer to `data` without copying it (the C side copies what it keeps)."""
    if isinstance(data, bytes):
        return ctypes.c_char_p(data), len(data)
    mv = memoryview(data).cast("B")
    if mv.readonly:
        b = bytes(mv)                     # ctypes cannot point into read-only buffers
        return ctypes.c_char_p(b), len(b)
    return (ctypes.c_char * mv.nbytes).from_buffer(mv), mv.nbytes


class _Stream:
    """Trampoline for uavmail_read_cb: owns the ctypes function object, so the
    C pointer stays valid exactly as long as the Message holding this object."""

    def __init__(self, source: Union[BinaryIO, Producer], progress: Optional[Progress]):
        self.source = source
        self.progress = progress
        self.cfunc = N.READ_CB(self._read)

    def _read(self, buf: int, cap: int, offset: int, _ud: Any) -> int:
        try:
            src = self.source
            if callable(src) and not hasattr(src, "readinto"):
                chunk = src(offset, cap)  # type: ignore[operator]
                n = len(chunk)
                if n > cap:
                    raise ValueError("uavmail: producer returned more bytes than asked for")
                ctypes.memmove(buf, bytes(chunk), n)
            else:
                f: Any = src
                if f.tell() != offset:
                    f.seek(offset)
                # Read straight into the library's buffer: no intermediate copy.
                view = memoryview((ctypes.c_char * cap).from_address(buf)).cast("B")
                n = f.readinto(view) or 0
            if self.progress is not None:
                self.progress(offset + n)
            return n
        except BaseException as e:  # noqa: B902 - must not unwind through C
            stash(e)
            return -1


class Message(Handle):
    """A message under construction (uavmail_message).  Use as a context manager
    or call close(); attachments are read only while the message is sent."""

    _WHAT, _FREE, _LAST_ERROR = "message", "uavmail_message_free", "uavmail_message_last_error"

    def __init__(self, message_id_domain: Optional[str] = None) -> None:
        opts = N.MessageOptions()
        N.lib.uavmail_message_options_init(ctypes.byref(opts), N.MESSAGE_OPTIONS_VERSION)
        dom = N.cstr(message_id_domain)
        opts.message_id_domain = dom
        h = ctypes.c_void_p()
        check(N.lib.uavmail_message_new(ctypes.byref(h), ctypes.byref(opts)), lambda: None)
        self._h: Optional[int] = h.value
        self._keep: List[Any] = []      # streams, file objects: alive while C may use them

    # ---- life cycle (Handle) ----
    def _closed(self) -> None:
        self._keep.clear()

    # ---- addresses and headers ----
    def set_from(self, address: str, name: Optional[str] = None) -> "Message":
        self._check(N.lib.uavmail_message_set_from(self.handle, N.cstr(address), N.cstr(name)))
        return self

    def add_recipient(self, address: str, name: Optional[str] = None,
                      kind: Kind = Kind.TO) -> "Message":
        self._check(N.lib.uavmail_message_add_recipient(self.handle, int(kind), N.cstr(address),
                                                        N.cstr(name)))
        return self

    def add_to(self, address: str, name: Optional[str] = None) -> "Message":
        return self.add_recipient(address, name, Kind.TO)

    def add_cc(self, address: str, name: Optional[str] = None) -> "Message":
        return self.add_recipient(address, name, Kind.CC)

    def add_bcc(self, address: str, name: Optional[str] = None) -> "Message":
        return self.add_recipient(address, name, Kind.BCC)

    def set_reply_to(self, address: str, name: Optional[str] = None) -> "Message":
        self._check(N.lib.uavmail_message_set_reply_to(self.handle, N.cstr(address),
                                                       N.cstr(name)))
        return self

    def set_subject(self, subject: str) -> "Message":
        self._check(N.lib.uavmail_message_set_subject(self.handle, N.cstr(subject)))
        return self

    def add_header(self, name: str, value: str) -> "Message":
        self._check(N.lib.uavmail_message_add_header(self.handle, N.cstr(name), N.cstr(value)))
        return self

    def set_dsn(self, notify: Dsn, ret: DsnRet = DsnRet.DEFAULT,
                envid: Optional[str] = None) -> "Message":
        self._check(N.lib.uavmail_message_set_dsn(self.handle, int(notify), int(ret),
                                                  N.cstr(envid)))
        return self

    # ---- bodies ----
    def set_text(self, text: Union[str, bytes]) -> "Message":
        b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        self._check(N.lib.uavmail_message_set_text(self.handle, b, len(b)))
        return self

    def set_html(self, html: Union[str, bytes]) -> "Message":
        b = html.encode("utf-8") if isinstance(html, str) else bytes(html)
        self._check(N.lib.uavmail_message_set_html(self.handle, b, len(b)))
        return self

    def set_prepared_file(self, path: PathLike) -> "Message":
        self._check(N.lib.uavmail_message_set_prepared_file(self.handle, N.cstr(path)))
        return self

    # ---- attachments ----
    def attach_file(self, path: PathLike, content_type: Optional[str] = None,
                    filename: Optional[str] = None) -> "Message":
        """Attach a file by path; it is streamed while sending (constant memory)."""
        self._check(N.lib.uavmail_message_attach_file(self.handle, N.cstr(path),
                                                      N.cstr(content_type), N.cstr(filename)))
        return self

    def attach_bytes(self, data: BytesLike, filename: str,
                     content_type: Optional[str] = None) -> "Message":
        """Attach bytes (the library keeps its own copy)."""
        ptr, n = _buffer(data)
        self._check(N.lib.uavmail_message_attach_memory(self.handle, ptr, n,
                                                        N.cstr(content_type), N.cstr(filename)))
        return self

    def attach_fd(self, fd: Union[int, io.IOBase], filename: str,
                  content_type: Optional[str] = None) -> "Message":
        """Attach an open, seekable descriptor (or a file object: it is kept open and
        referenced until the message is closed)."""
        if not isinstance(fd, int):
            self._keep.append(fd)
            fd = fd.fileno()
        self._check(N.lib.uavmail_message_attach_fd(self.handle, fd, N.cstr(content_type),
                                                    N.cstr(filename)))
        return self

    def attach_stream(self, source: Union[BinaryIO, Producer], filename: str,
                      size: Optional[int] = None, content_type: Optional[str] = None,
                      progress: Optional[Progress] = None) -> "Message":
        """Attach content read while sending: a binary file object (read with readinto()
        straight into the library's buffer) or a producer(offset, max_bytes) -> bytes.
        `size` None means unknown (no SMTP SIZE).  `progress(bytes_so_far)` is called
        after every read."""
        st = _Stream(source, progress)
        sz = -1 if size is None else int(size)
        self._check(N.lib.uavmail_message_attach_callback(self.handle, st.cfunc, sz,
                                                          N.cstr(content_type),
                                                          N.cstr(filename), None))
        self._keep.append(st)
        return self

    def add_inline_file(self, path: PathLike, content_id: str,
                        content_type: Optional[str] = None) -> "Message":
        self._check(N.lib.uavmail_message_add_inline_file(self.handle, N.cstr(path),
                                                          N.cstr(content_type),
                                                          N.cstr(content_id)))
        return self

    def add_inline_bytes(self, data: BytesLike, content_id: str,
                         content_type: Optional[str] = None) -> "Message":
        ptr, n = _buffer(data)
        self._check(N.lib.uavmail_message_add_inline_memory(self.handle, ptr, n,
                                                            N.cstr(content_type),
                                                            N.cstr(content_id)))
        return self

    # ---- rendering ----
    def check(self) -> None:
        """Validate (From, recipients, attachments readable) without sending."""
        self._check(N.lib.uavmail_message_check(self.handle))

    def size(self, eight_bit: bool = False) -> int:
        out = ctypes.c_uint64()
        self._check(N.lib.uavmail_message_size(self.handle, RENDER_8BIT if eight_bit else 0,
                                               ctypes.byref(out)))
        return out.value

    def render(self, eight_bit: bool = False) -> bytes:
        """The whole message as bytes (in memory: for small messages and tests)."""
        flags = RENDER_8BIT if eight_bit else 0
        n = ctypes.c_size_t()
        rc = N.lib.uavmail_message_render(self.handle, flags, None, 0, ctypes.byref(n))
        if rc not in (0, -8):
            self._check(rc)
        buf = ctypes.create_string_buffer(n.value)
        self._check(N.lib.uavmail_message_render(self.handle, flags, buf, n.value,
                                                 ctypes.byref(n)))
        return buf.raw[:n.value]

    def write_file(self, path: PathLike) -> None:
        self._check(N.lib.uavmail_message_write_file(self.handle, N.cstr(path)))
