"""uavmail for Python: e-mail from drones and ground stations over libuavmail (ctypes).

    import uavmail
    settings = uavmail.Settings("smtp.example.com", username="uav7@example.com",
                                password=lambda: os.environ["SMTP_PASSWORD"])
    with uavmail.Message() as m, uavmail.Session(settings) as s:
        m.set_from("uav7@example.com").add_to("ops@example.com")
        m.set_subject("Flight report").set_text("Landed.")
        m.attach_file(Path("/var/log/flight.ulg"))      # streamed while sending
        s.send(m)

    with uavmail.Telemetry("UAV-7") as tm:                # a flight: samples, then a report
        tm.append(time_us, lat=47.1, lon=8.5, alt_rel=12.0, remaining=81)
        with uavmail.Message() as m, uavmail.Session(settings) as s:
            tm.report(m.set_from("uav7@example.com").add_to("ops@example.com"))
            s.send(m)                                     # CSV, GPX, GeoJSON, CBOR attached

Callbacks (password, token, trace, clock, attachment streams, outcomes, alerts) run on the
thread that called into the library; an exception raised in one aborts the
operation and comes back out of it, chained to a CallbackError.
"""
from ._native import BINDING_VERSION, LibraryVersionError, check_version
from ._native import flight as _flight
from ._native import lib as _lib
from ._native import path as library_path
from ._native import text as _text
from .errors import (AddressError, AuthError, CallbackError, FileError, HeaderError,
                     InvalidArgumentError, NetworkError, OutboxFullError, OutcomeUnknownError,
                     RecipientsError, ServerError, TlsError, TooBigError, UavmailError)
from .message import Dsn, DsnRet, Kind, Message
from .outbox import Entry, EntryState, Outbox, Outcome, Priority, Stats
from .session import (ProbeReport, Recipient, Security, Session, Settings, Trace, probe,
                      provider_names)
from .telemetry import (Alert, AlertOp, Alerts, FlightFlags, FlightSummary, Format, Severity,
                        Telemetry, encoded_size)

__version__ = "%d.%d.%d" % BINDING_VERSION


def library_version() -> str:
    """The loaded library's version text, e.g. "0.1.0 (mbedTLS 2.28.3)"."""
    return _text(_lib.uavmail_version_string())


def flight_library_path() -> str:
    """Where libuavmail-flight (Outbox, Telemetry, Alerts) is loaded from, loading it now
    if need be; ImportError, naming what was tried, when it cannot be loaded."""
    return _flight.load()


def strerror(code: int) -> str:
    return _text(_lib.uavmail_strerror(code))


__all__ = [
    "BINDING_VERSION", "LibraryVersionError", "check_version", "library_path",
    "flight_library_path", "library_version", "strerror", "UavmailError", "AddressError",
    "AuthError", "CallbackError", "FileError", "HeaderError", "InvalidArgumentError",
    "NetworkError", "OutboxFullError", "OutcomeUnknownError", "RecipientsError", "ServerError",
    "TlsError", "TooBigError", "Message", "Kind", "Dsn", "DsnRet", "Settings", "Security",
    "Trace", "Session", "Recipient", "ProbeReport", "probe", "provider_names", "Outbox",
    "Priority", "Outcome", "EntryState", "Entry", "Stats", "Telemetry", "Format", "Severity",
    "FlightFlags", "FlightSummary", "encoded_size", "Alerts", "Alert", "AlertOp",
]
