// uavmail.hpp - header-only C++17 wrapper over libuavmail and libuavmail-flight.
//
// Message, Session and probe() need only the mail core, libuavmail:
//   c++ -std=c++17 app.cpp $(pkg-config --cflags --libs uavmail)
// Outbox, Telemetry and Alerts are in libuavmail-flight, which needs the core; a
// program that uses them links both (pkg-config gives both):
//   c++ -std=c++17 app.cpp $(pkg-config --cflags --libs uavmail-flight)
//
// Move-only RAII handles (Message, Session, Outbox), exceptions by default and
// std::error_code overloads (the ones taking `std::error_code&` never throw),
// std::string_view / std::filesystem::path inputs, lambdas as callbacks.
//
//   uavmail::Settings s;  s.host = "smtp.example.com";  s.username = "uav7@example.com";
//   s.password = [] { return std::string(std::getenv("SMTP_PASSWORD")); };
//   uavmail::Message m;
//   m.set_from("uav7@example.com").add_to("ops@example.com").set_subject("Flight report");
//   m.attach_file("/var/log/flight.ulg");            // streamed while sending
//   uavmail::Session(s).send(m);                      // throws uavmail::error
//
// Telemetry and alerts:
//
//   uavmail::Telemetry tm("UAV-7");
//   uavmail::sample s(gps_time_us);  s.lat = 47.1;  s.lon = 8.5;  s.remaining = 81;
//   tm.append(s);
//   tm.report(m);                                     // subject, bodies, CSV/GPX/GeoJSON/CBOR
//   uavmail::Alerts alerts([](const uavmail::alert &a) { queue(a.text); });
//   alerts.parse("battery_low: remaining < 20 clear 25").value("remaining", 19, t);
//
// Callbacks run on the thread that called into the library.  An exception
// thrown by a callback aborts the operation and is rethrown from it (the
// error_code overloads report errc::callback and drop it).  Handles are not
// thread-safe: one thread at a time per handle.
#ifndef UAVMAIL_HPP
#define UAVMAIL_HPP

#include <uavmail/uavmail.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace uavmail {

/// The library version this wrapper was written for (packed 0xMMmmpp).
inline constexpr unsigned binding_version = 0x000300;

// ---- errors -----------------------------------------------------------------

/// enum uavmail_error as a std::error_code enum.
enum class errc {
    ok = 0, nomem = -1, inval = -2, state = -3, address = -4, header = -5, encoding = -6,
    file = -7, toobig = -8, resolve = -9, connect = -10, timeout = -11, io = -12, tls = -13,
    cert = -14, notls = -15, protocol = -16, injection = -17, auth = -18, noauth = -19,
    tempfail = -20, permfail = -21, recipients = -22, unknown = -23, config = -24,
    callback = -25, closed = -26, internal = -27, again = -28, full = -29
};

namespace detail {
class category_impl final : public std::error_category {
public:
    const char *name() const noexcept override { return "uavmail"; }
    std::string message(int code) const override { return uavmail_strerror(code); }
};
} // namespace detail

inline const std::error_category &category() noexcept
{
    static const detail::category_impl c;
    return c;
}

inline std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

} // namespace uavmail

template <> struct std::is_error_code_enum<uavmail::errc> : std::true_type {};

namespace uavmail {

/// Everything the library says about one failure.
struct error_info {
    int code = 0;
    std::string message;      ///< what failed and where
    std::string hint;         ///< how to fix it, or ""
    int smtp_code = 0;        ///< e.g. 535, or 0
    std::string enhanced_code; ///< e.g. "5.7.8", or ""
    std::string server_reply; ///< the server's text, or ""
    long tls_code = 0;
    bool temporary() const noexcept { return uavmail_error_is_temporary(code) != 0; }
};

/// Thrown for a negative return code.  code() is a std::error_code in category().
class error : public std::system_error {
public:
    explicit error(error_info i)
        : std::system_error(i.code, category(), describe(i)), info_(std::move(i)) {}
    const error_info &info() const noexcept { return info_; }
    const std::string &hint() const noexcept { return info_.hint; }
    int smtp_code() const noexcept { return info_.smtp_code; }
    const std::string &enhanced_code() const noexcept { return info_.enhanced_code; }
    const std::string &server_reply() const noexcept { return info_.server_reply; }
    bool temporary() const noexcept { return info_.temporary(); }

private:
    static std::string describe(const error_info &i)
    {
        std::string s = i.message.empty() ? std::string(uavmail_strerror(i.code)) : i.message;
        if (!i.hint.empty())
            s += " (hint: " + i.hint + ")";
        return s;
    }
    error_info info_;
};

// Families a caller catches separately.
struct address_error : error { using error::error; };  ///< address, header, encoding
struct file_error : error { using error::error; };     ///< file
struct network_error : error { using error::error; };  ///< resolve, connect, timeout, io, closed
struct tls_error : error { using error::error; };      ///< tls, cert, notls, injection
struct auth_error : error { using error::error; };     ///< auth, noauth
struct server_error : error { using error::error; };   ///< tempfail, permfail, recipients, protocol
struct callback_error : error { using error::error; }; ///< callback (nested: the callback's exception)

/// The loaded library is not the version this wrapper was written for.
struct version_error : std::runtime_error { using std::runtime_error::runtime_error; };

/// "" when a library of packed version `runtime` fits this wrapper, else why not.
inline std::string version_mismatch(unsigned runtime)
{
    unsigned maj = runtime >> 16, min = (runtime >> 8) & 0xff, pat = runtime & 0xff;
    unsigned wmaj = binding_version >> 16, wmin = (binding_version >> 8) & 0xff;
    bool ok = maj == wmaj && runtime >= binding_version && (maj != 0 || min == wmin);
    if (ok)
        return {};
    auto v = [](unsigned a, unsigned b, unsigned c) {
        return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c);
    };
    return "uavmail: this C++ wrapper was written for libuavmail " +
           v(wmaj, wmin, binding_version & 0xff) + " but the loaded library is version " +
           v(maj, min, pat) + "; rebuild against a matching library";
}

/// Throws version_error once, on first use, if the loaded library does not fit.
inline void check_library_version()
{
    static const std::string why = version_mismatch(uavmail_version());
    if (!why.empty())
        throw version_error(why);
}

namespace detail {

inline error_info read_detail(int code, const uavmail_error_detail *d)
{
    error_info i;
    i.code = code;
    if (d == nullptr || uavmail_error_code(d) != code)
        return i;
    i.message = uavmail_error_message(d);
    i.hint = uavmail_error_hint(d);
    i.smtp_code = uavmail_error_smtp_code(d);
    i.enhanced_code = uavmail_error_enhanced_code(d);
    i.server_reply = uavmail_error_server_reply(d);
    i.tls_code = uavmail_error_tls_code(d);
    return i;
}

[[noreturn]] inline void throw_error(error_info i)
{
    switch (static_cast<errc>(i.code)) {
    case errc::address: case errc::header: case errc::encoding: throw address_error(std::move(i));
    case errc::file: throw file_error(std::move(i));
    case errc::resolve: case errc::connect: case errc::timeout: case errc::io:
    case errc::closed: throw network_error(std::move(i));
    case errc::tls: case errc::cert: case errc::notls: case errc::injection:
        throw tls_error(std::move(i));
    case errc::auth: case errc::noauth: throw auth_error(std::move(i));
    case errc::tempfail: case errc::permfail: case errc::recipients: case errc::protocol:
        throw server_error(std::move(i));
    case errc::callback: throw callback_error(std::move(i));
    default: throw error(std::move(i));
    }
}

/// Holds an exception thrown by a callback until the C call has returned.
struct pending {
    std::exception_ptr exc;
    template <class F> auto guard(F &&f, decltype(f()) fail) noexcept -> decltype(f())
    {
        try {
            return f();
        } catch (...) {
            if (!exc)
                exc = std::current_exception();
            return fail;
        }
    }
    /// Rethrow and clear: nested in a callback_error when the callback's failure
    /// aborted the call (rc == errc::callback), as it is otherwise.
    void rethrow(int rc, const uavmail_error_detail *d)
    {
        if (!exc)
            return;
        std::exception_ptr e = std::exchange(exc, nullptr);
        if (rc != UAVMAIL_ECALLBACK)
            std::rethrow_exception(e);
        try {
            std::rethrow_exception(e);
        } catch (...) {
            std::throw_with_nested(callback_error(read_detail(rc, d)));
        }
    }
};

/// Optional NUL-terminated copy of a string_view: empty means "none" (NULL).
class opt_cstr {
public:
    opt_cstr(std::string_view s) : s_(s), set_(!s.empty()) {}
    opt_cstr(const std::filesystem::path &p) : s_(p.string()), set_(!p.empty()) {}
    const char *get() const noexcept { return set_ ? s_.c_str() : nullptr; }
    operator const char *() const noexcept { return get(); }

private:
    std::string s_;
    bool set_;
};

inline std::error_code ec_of(int rc) noexcept
{
    return rc < 0 ? make_error_code(static_cast<errc>(rc)) : std::error_code();
}

inline std::error_code version_ec() noexcept
{
    return version_mismatch(uavmail_version()).empty() ? std::error_code()
                                                       : make_error_code(errc::config);
}

/// Copy a credential into the library's buffer, then wipe our copy.
inline bool write_secret(std::string s, char *buf, size_t cap, size_t *len)
{
    bool fits = s.size() <= cap;
    if (fits) {
        std::memcpy(buf, s.data(), s.size());
        *len = s.size();
    }
    volatile char *p = s.data();
    for (size_t i = 0; i < s.size(); i++)
        p[i] = '\0';
    return fits;
}

} // namespace detail

// ---- messages ---------------------------------------------------------------

enum class recipient_kind { to = UAVMAIL_TO, cc = UAVMAIL_CC, bcc = UAVMAIL_BCC };

/// Supplies attachment bytes: copy up to `cap` bytes of the content starting at
/// `offset` into `buf`; return the count (0 at the end) or a negative value.
using reader = std::function<long(char *buf, std::size_t cap, std::uint64_t offset)>;

/// A message under construction.  Attachments are read only while it is sent.
class Message {
public:
    Message() { init({}); }
    explicit Message(std::string_view message_id_domain) { init(message_id_domain); }
    /// Non-throwing construction: an empty Message (operator bool false) on failure.
    static Message create(std::error_code &ec) noexcept
    {
        Message m(nullptr);
        ec = detail::version_ec();
        if (!ec)
            ec = m.make({});
        return m;
    }

    Message(Message &&) noexcept = default;
    Message &operator=(Message &&o) noexcept
    {
        h_.reset();               // free the handle before the callables it may call
        st_ = std::move(o.st_);
        h_ = std::move(o.h_);
        return *this;
    }
    Message(const Message &) = delete;
    Message &operator=(const Message &) = delete;

    explicit operator bool() const noexcept { return h_ != nullptr; }
    uavmail_message *native() const noexcept { return h_.get(); }

    // The main operations come in two forms: one throwing and returning *this
    // for chaining, one taking std::error_code& that never throws.

    Message &set_from(std::string_view addr, std::string_view name = {})
    { std::error_code ec; return run(set_from(addr, name, ec)); }
    std::error_code &set_from(std::string_view addr, std::string_view name,
                              std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_set_from(h_.get(), detail::opt_cstr(addr),
                                                            detail::opt_cstr(name)); }); }

    Message &add_recipient(std::string_view addr, std::string_view name = {},
                           recipient_kind k = recipient_kind::to)
    { std::error_code ec; return run(add_recipient(addr, name, k, ec)); }
    std::error_code &add_recipient(std::string_view addr, std::string_view name,
                                   recipient_kind k, std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_add_recipient(h_.get(), static_cast<int>(k),
                                                                 detail::opt_cstr(addr),
                                                                 detail::opt_cstr(name)); }); }
    Message &add_to(std::string_view a, std::string_view n = {})
    { return add_recipient(a, n, recipient_kind::to); }
    Message &add_cc(std::string_view a, std::string_view n = {})
    { return add_recipient(a, n, recipient_kind::cc); }
    Message &add_bcc(std::string_view a, std::string_view n = {})
    { return add_recipient(a, n, recipient_kind::bcc); }

    Message &set_subject(std::string_view s)
    { std::error_code ec; return run(set_subject(s, ec)); }
    std::error_code &set_subject(std::string_view s, std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_set_subject(h_.get(), detail::opt_cstr(s)); }); }

    Message &set_text(std::string_view t)
    { std::error_code ec; return run(set_text(t, ec)); }
    std::error_code &set_text(std::string_view t, std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_set_text(h_.get(), t.data(), t.size()); }); }

    /// Attach a file by path, streamed while sending (constant memory).
    Message &attach_file(const std::filesystem::path &p, std::string_view content_type = {},
                         std::string_view filename = {})
    { std::error_code ec; return run(attach_file(p, content_type, filename, ec)); }
    std::error_code &attach_file(const std::filesystem::path &p, std::string_view content_type,
                                 std::string_view filename, std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_attach_file(h_.get(), detail::opt_cstr(p),
                                                               detail::opt_cstr(content_type),
                                                               detail::opt_cstr(filename)); }); }

    /// Attach bytes (copied by the library).
    Message &attach_bytes(std::string_view data, std::string_view filename,
                          std::string_view content_type = {})
    { std::error_code ec; return run(attach_bytes(data, filename, content_type, ec)); }
    std::error_code &attach_bytes(std::string_view data, std::string_view filename,
                                  std::string_view content_type, std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_attach_memory(
          h_.get(), data.data(), data.size(), detail::opt_cstr(content_type),
          detail::opt_cstr(filename)); }); }

    /// Attach content produced by `read` while sending (constant memory); size
    /// std::nullopt when unknown.  The callable is owned by the message.
    Message &attach_reader(reader read, std::string_view filename,
                           std::optional<std::uint64_t> size = std::nullopt,
                           std::string_view content_type = {})
    { std::error_code ec; return run(attach_reader(std::move(read), filename, size, content_type, ec)); }
    std::error_code &attach_reader(reader read, std::string_view filename,
                                   std::optional<std::uint64_t> size,
                                   std::string_view content_type, std::error_code &ec) noexcept
    {
        if (!h_)
            return ec = make_error_code(errc::state);
        try {
            st_->readers.emplace_back(std::move(read));
        } catch (...) {
            return ec = make_error_code(errc::nomem);
        }
        void *slot = &st_->readers.back();   // std::list: the address never moves
        wrap(ec, [&] {
            return uavmail_message_attach_callback(
                h_.get(), &Message::read_trampoline,
                size ? static_cast<std::int64_t>(*size) : std::int64_t{-1}, // UAVMAIL_SIZE_UNKNOWN
                detail::opt_cstr(content_type), detail::opt_cstr(filename), slot);
        });
        if (ec)
            st_->readers.pop_back();
        return ec;
    }

    /// Validate without sending (From, recipients, attachments readable).
    void check() { std::error_code ec; run(check(ec)); }
    std::error_code &check(std::error_code &ec) noexcept
    { return wrap(ec, [&] { return uavmail_message_check(h_.get()); }); }

    // Throwing only.
    Message &set_reply_to(std::string_view addr, std::string_view name = {})
    { return call([&] { return uavmail_message_set_reply_to(h_.get(), detail::opt_cstr(addr),
                                                            detail::opt_cstr(name)); }); }
    Message &add_header(std::string_view name, std::string_view value)
    { return call([&] { return uavmail_message_add_header(h_.get(), detail::opt_cstr(name),
                                                          detail::opt_cstr(value)); }); }
    Message &set_html(std::string_view t)
    { return call([&] { return uavmail_message_set_html(h_.get(), t.data(), t.size()); }); }
    Message &set_dsn(unsigned notify, int ret = UAVMAIL_DSN_RET_DEFAULT, std::string_view envid = {})
    { return call([&] { return uavmail_message_set_dsn(h_.get(), notify, ret, detail::opt_cstr(envid)); }); }
    Message &set_prepared_file(const std::filesystem::path &p)
    { return call([&] { return uavmail_message_set_prepared_file(h_.get(), detail::opt_cstr(p)); }); }
    /// Attach an open, seekable descriptor (the caller keeps it open while the message lives).
    Message &attach_fd(int fd, std::string_view filename, std::string_view content_type = {})
    { return call([&] { return uavmail_message_attach_fd(h_.get(), fd, detail::opt_cstr(content_type),
                                                         detail::opt_cstr(filename)); }); }
    Message &add_inline_file(const std::filesystem::path &p, std::string_view content_id,
                             std::string_view content_type = {})
    { return call([&] { return uavmail_message_add_inline_file(h_.get(), detail::opt_cstr(p),
                                                               detail::opt_cstr(content_type),
                                                               detail::opt_cstr(content_id)); }); }
    Message &add_inline_bytes(std::string_view data, std::string_view content_id,
                              std::string_view content_type = {})
    { return call([&] { return uavmail_message_add_inline_memory(
          h_.get(), data.data(), data.size(), detail::opt_cstr(content_type),
          detail::opt_cstr(content_id)); }); }

    std::uint64_t size(bool eight_bit = false)
    {
        std::uint64_t n = 0;
        call([&] { return uavmail_message_size(h_.get(), eight_bit ? UAVMAIL_RENDER_8BIT : 0, &n); });
        return n;
    }

    /// The whole message in memory (for small messages and tests).
    std::string render(bool eight_bit = false)
    {
        unsigned f = eight_bit ? UAVMAIL_RENDER_8BIT : 0;
        size_t n = 0;
        call([&] {
            int rc = uavmail_message_render(h_.get(), f, nullptr, 0, &n);
            return rc == UAVMAIL_ETOOBIG ? 0 : rc;
        });
        std::string out(n, '\0');
        call([&] { return uavmail_message_render(h_.get(), f, out.data(), out.size(), &n); });
        out.resize(n);
        return out;
    }

    void write_file(const std::filesystem::path &p)
    { call([&] { return uavmail_message_write_file(h_.get(), detail::opt_cstr(p)); }); }

    /// Detail of the last failure (for error_code users).
    error_info last_error() const
    {
        if (!h_)
            return {};
        const uavmail_error_detail *d = uavmail_message_last_error(h_.get());
        return detail::read_detail(uavmail_error_code(d), d);
    }

private:
    friend class Session;
    friend class Outbox;
    friend class Telemetry;
    struct state {
        std::list<reader> readers;
        std::vector<std::shared_ptr<void>> keep; // recorders its attachments read from
        detail::pending pend;
    };
    struct deleter {
        void operator()(uavmail_message *m) const noexcept { uavmail_message_free(m); }
    };

    explicit Message(std::nullptr_t) noexcept {}
    void init(std::string_view domain)
    {
        check_library_version();
        std::error_code ec = make(domain);
        if (ec)
            detail::throw_error({ec.value(), "cannot create a message", {}, 0, {}, {}, 0});
    }
    std::error_code make(std::string_view domain) noexcept
    {
        try {
            st_ = std::make_unique<state>();
            uavmail_message_options o;
            uavmail_message_options_init(&o, UAVMAIL_MESSAGE_OPTIONS_VERSION);
            detail::opt_cstr d(domain);
            o.message_id_domain = d;
            uavmail_message *m = nullptr;
            std::error_code ec = detail::ec_of(uavmail_message_new(&m, &o));
            h_.reset(m);
            return ec;
        } catch (...) {
            return make_error_code(errc::nomem);
        }
    }
    template <class F> std::error_code &wrap(std::error_code &ec, F &&f) noexcept
    {
        return ec = h_ ? detail::ec_of(f()) : make_error_code(errc::state);
    }
    template <class F> Message &call(F &&f)
    {
        std::error_code ec;
        return run(wrap(ec, std::forward<F>(f)));
    }
    /// Throw for a failed operation, with this message's error detail.
    Message &run(const std::error_code &ec)
    {
        if (ec)
            raise(ec.value());
        return *this;
    }
    [[noreturn]] void raise(int rc)
    {
        if (!h_)
            throw error(error_info{rc, "the message handle is empty (moved from)", {}, 0, {}, {}, 0});
        const uavmail_error_detail *d = uavmail_message_last_error(h_.get());
        st_->pend.rethrow(rc, d);
        detail::throw_error(detail::read_detail(rc, d));
    }
    static long read_trampoline(void *buf, size_t cap, std::uint64_t offset, void *ud)
    {
        try {
            return (*static_cast<reader *>(ud))(static_cast<char *>(buf), cap, offset);
        } catch (...) {
            // The owning message is not reachable from here; the caller of the
            // library function (Session::send, Outbox::enqueue) collects it.
            if (!caught())
                caught() = std::current_exception();
            return -1;
        }
    }
    static std::exception_ptr &caught() noexcept
    {
        static thread_local std::exception_ptr p;
        return p;
    }
    /// Move a reader's exception caught on this thread into this message.
    void collect() noexcept
    {
        if (caught() && st_ && !st_->pend.exc)
            st_->pend.exc = std::exchange(caught(), nullptr);
        caught() = nullptr;
    }

    std::unique_ptr<state> st_; // outlives h_: the library may read until it is freed
    std::unique_ptr<uavmail_message, deleter> h_;
};

// ---- sessions -----------------------------------------------------------------

enum class security { automatic = UAVMAIL_SECURITY_AUTO, tls = UAVMAIL_SECURITY_TLS,
                      starttls = UAVMAIL_SECURITY_STARTTLS, none = UAVMAIL_SECURITY_NONE };
enum class trace_direction { client = UAVMAIL_TRACE_CLIENT, server = UAVMAIL_TRACE_SERVER,
                             info = UAVMAIL_TRACE_INFO };

/// How to reach and log in to the submission server.  Empty strings mean "not set".
struct Settings {
    std::string host;
    unsigned port = 0;
    uavmail::security security = security::automatic;
    std::filesystem::path cafile, capath;
    std::string username;
    std::function<std::string()> password;          ///< called at AUTH time
    std::function<std::string(bool refresh)> token; ///< OAuth2 access token
    std::string auth_mechanism, helo_name;
    unsigned connect_timeout_ms = 0, command_timeout_ms = 0;
    std::function<void(trace_direction, std::string_view)> trace;
    std::function<std::int64_t()> clock;            ///< seconds since 1970 UTC (GPS time)
    std::filesystem::path tls_session_file;
    std::string tls_pin_sha256;
    std::filesystem::path client_cert, client_key;

    /// Host, port and security of a known provider ("gmail", "office365", ...).
    static Settings provider(std::string_view name)
    {
        uavmail_session_options o;
        uavmail_session_options_init(&o, UAVMAIL_SESSION_OPTIONS_VERSION);
        int rc = uavmail_provider_preset(std::string(name).c_str(), &o, nullptr);
        if (rc != 0)
            detail::throw_error({rc, "unknown provider \"" + std::string(name) + "\"", {}, 0, {}, {}, 0});
        Settings s;
        s.host = o.host;
        s.port = o.port;
        s.security = static_cast<uavmail::security>(o.security);
        return s;
    }
};

namespace detail {

/// A uavmail_session_options pointing into a stable copy of Settings.
class native_settings {
public:
    explicit native_settings(Settings s) : s_(std::move(s))
    {
        uavmail_session_options_init(&o_, UAVMAIL_SESSION_OPTIONS_VERSION);
        o_.host = s_.host.c_str();
        o_.port = s_.port;
        o_.security = static_cast<int>(s_.security);
        keep(cafile_, s_.cafile.string(), o_.cafile);
        keep(capath_, s_.capath.string(), o_.capath);
        o_.username = s_.username.empty() ? nullptr : s_.username.c_str();
        o_.auth_mechanism = s_.auth_mechanism.empty() ? nullptr : s_.auth_mechanism.c_str();
        o_.helo_name = s_.helo_name.empty() ? nullptr : s_.helo_name.c_str();
        o_.tls_pin_sha256 = s_.tls_pin_sha256.empty() ? nullptr : s_.tls_pin_sha256.c_str();
        keep(session_file_, s_.tls_session_file.string(), o_.tls_session_file);
        keep(cert_, s_.client_cert.string(), o_.client_cert);
        keep(key_, s_.client_key.string(), o_.client_key);
        o_.connect_timeout_ms = s_.connect_timeout_ms;
        o_.command_timeout_ms = s_.command_timeout_ms;
        if (s_.password) { o_.password_cb = &password_tramp; o_.password_user_data = this; }
        if (s_.token) { o_.token_cb = &token_tramp; o_.token_user_data = this; }
        if (s_.trace) { o_.trace_cb = &trace_tramp; o_.trace_user_data = this; }
        if (s_.clock) { o_.time_cb = &time_tramp; o_.time_user_data = this; }
    }
    native_settings(const native_settings &) = delete;
    native_settings &operator=(const native_settings &) = delete;

    const uavmail_session_options *get() const noexcept { return &o_; }
    pending pend;

private:
    static void keep(std::string &store, std::string v, const char *&field)
    {
        store = std::move(v);
        field = store.empty() ? nullptr : store.c_str();
    }
    static int password_tramp(char *buf, size_t cap, size_t *len, void *ud)
    {
        auto *self = static_cast<native_settings *>(ud);
        return self->pend.guard([&] { return write_secret(self->s_.password(), buf, cap, len) ? 0 : 1; }, 1);
    }
    static int token_tramp(char *buf, size_t cap, size_t *len, int refresh, void *ud)
    {
        auto *self = static_cast<native_settings *>(ud);
        return self->pend.guard([&] { return write_secret(self->s_.token(refresh != 0), buf, cap, len) ? 0 : 1; }, 1);
    }
    static void trace_tramp(int dir, const char *line, size_t len, void *ud)
    {
        auto *self = static_cast<native_settings *>(ud);
        self->pend.guard([&] { self->s_.trace(static_cast<trace_direction>(dir), std::string_view(line, len)); return 0; }, 0);
    }
    static std::int64_t time_tramp(void *ud)
    {
        auto *self = static_cast<native_settings *>(ud);
        return self->pend.guard([&] { return self->s_.clock(); }, std::int64_t{-1});
    }

    Settings s_;
    uavmail_session_options o_;
    std::string cafile_, capath_, session_file_, cert_, key_;
};

} // namespace detail

/// Result of one recipient of the last message sent.
struct recipient_result {
    std::string address;
    int smtp_code = 0;
    std::string reply;
    bool accepted() const noexcept { return smtp_code >= 200 && smtp_code < 300; }
};

/// An SMTP session: connects on the first send, keeps the connection, QUIT on destruction.
class Session {
public:
    explicit Session(Settings s)
    {
        check_library_version();
        std::error_code ec;
        init(std::move(s), ec);
        if (ec)
            detail::throw_error({ec.value(), "cannot create the session", {}, 0, {}, {}, 0});
    }
    static Session create(Settings s, std::error_code &ec) noexcept
    {
        Session out;
        ec = detail::version_ec();
        if (!ec) {
            try {
                out.init(std::move(s), ec);
            } catch (...) {
                ec = make_error_code(errc::nomem);
            }
        }
        return out;
    }
    Session(Session &&) noexcept = default;
    Session &operator=(Session &&o) noexcept
    {
        h_.reset();               // QUIT may still trace through the old callbacks
        opts_ = std::move(o.opts_);
        h_ = std::move(o.h_);
        active_ = std::exchange(o.active_, nullptr);
        return *this;
    }
    explicit operator bool() const noexcept { return h_ != nullptr; }
    uavmail_session *native() const noexcept { return h_.get(); }

    /// Send `m`; returns every recipient's result.  Throws server_error with
    /// errc::recipients when only some were accepted (see recipients()).
    std::vector<recipient_result> send(Message &m, bool final = false)
    {
        int rc = send_rc(m, final);
        if (rc < 0)
            raise(rc, m);
        return recipients();
    }
    std::error_code send(Message &m, bool final, std::error_code &ec) noexcept
    {
        int rc = send_rc(m, final);
        m.st_->pend.exc = nullptr;
        opts_->pend.exc = nullptr;
        return ec = detail::ec_of(rc);
    }

    std::vector<recipient_result> recipients() const
    {
        std::vector<recipient_result> out;
        size_t n = h_ ? uavmail_session_recipient_count(h_.get()) : 0;
        for (size_t i = 0; i < n; i++) {
            const char *a = nullptr, *r = nullptr;
            int c = 0;
            uavmail_session_recipient(h_.get(), i, &a, &c, &r);
            out.push_back({a ? a : "", c, r ? r : ""});
        }
        return out;
    }

    // ---- non-blocking use from an event loop (Qt: a QSocketNotifier on fd()) ----

    enum class want { read = UAVMAIL_WANT_READ, write = UAVMAIL_WANT_WRITE };

    /// Begin sending `m` without blocking; `m` must live until step() finishes.
    void start(Message &m, bool final = false)
    {
        int rc = h_ && m ? uavmail_session_start(h_.get(), m.native(), final ? 1 : 0) : UAVMAIL_ESTATE;
        m.collect();
        if (rc < 0)
            raise(rc, m);
        active_ = &m;
    }
    /// Make progress: what to wait for on fd(), or std::nullopt when the send has
    /// finished (throwing, as send() does, if it failed).
    std::optional<want> step()
    {
        int w = 0;
        int rc = h_ ? uavmail_session_step(h_.get(), &w) : UAVMAIL_ESTATE;
        if (rc == UAVMAIL_EAGAIN)
            return static_cast<want>(w);
        Message *m = std::exchange(active_, nullptr);
        if (m != nullptr)
            m->collect();
        if (rc < 0) {
            if (m != nullptr)
                raise(rc, *m);
            detail::throw_error(last_error());
        }
        return std::nullopt;
    }
    /// The descriptor to watch, or -1.
    int fd() const noexcept { return h_ ? uavmail_session_fd(h_.get()) : -1; }
    /// Milliseconds until step() must be called anyway.
    unsigned timeout_ms() const noexcept { return h_ ? uavmail_session_timeout_ms(h_.get()) : 0; }

    void quit()
    {
        int rc = h_ ? uavmail_session_quit(h_.get()) : 0;
        if (rc < 0)
            detail::throw_error(last_error());
    }
    bool is_secure() const noexcept { return h_ && uavmail_session_is_secure(h_.get()) != 0; }
    std::string tls_version() const { return h_ ? uavmail_session_tls_version(h_.get()) : ""; }
    std::string tls_ciphersuite() const { return h_ ? uavmail_session_tls_ciphersuite(h_.get()) : ""; }
    /// Detail of the last failure (for error_code users).
    error_info last_error() const
    {
        if (!h_)
            return {};
        const uavmail_error_detail *d = uavmail_session_last_error(h_.get());
        return detail::read_detail(uavmail_error_code(d), d);
    }

private:
    Session() = default;
    struct deleter {
        void operator()(uavmail_session *s) const noexcept { uavmail_session_free(s); }
    };
    void init(Settings s, std::error_code &ec)
    {
        opts_ = std::make_unique<detail::native_settings>(std::move(s));
        uavmail_session *h = nullptr;
        ec = detail::ec_of(uavmail_session_new(&h, opts_->get()));
        h_.reset(h);
    }
    int send_rc(Message &m, bool final) noexcept
    {
        if (!h_ || !m)
            return UAVMAIL_ESTATE;
        int rc = final ? uavmail_session_send_final(h_.get(), m.native())
                       : uavmail_session_send(h_.get(), m.native());
        m.collect();
        return rc;
    }
    [[noreturn]] void raise(int rc, Message &m)
    {
        const uavmail_error_detail *d = uavmail_session_last_error(h_.get());
        m.st_->pend.rethrow(rc, d);
        opts_->pend.rethrow(rc, d);
        detail::throw_error(detail::read_detail(rc, d));
    }

    std::unique_ptr<detail::native_settings> opts_; // outlives h_ (declared first)
    std::unique_ptr<uavmail_session, deleter> h_;
    Message *active_ = nullptr;                     // the message of a non-blocking send
};

// ---- probe ----------------------------------------------------------------------

struct probe_report {
    int verdict = 0;     ///< 0: a send would work; else the first problem's code
    std::string text;    ///< "Label: value" lines ending with Verdict and Fix
    std::string json;
    bool ok() const noexcept { return verdict == 0; }
};

/// Test a configuration without sending, and say what to fix.
inline probe_report probe(const Settings &s, bool try_login, std::error_code &ec)
{
    probe_report out;
    ec = detail::version_ec();
    if (ec)
        return out;
    detail::native_settings ns(s);
    uavmail_probe_report *r = nullptr;
    ec = detail::ec_of(uavmail_probe(&r, ns.get(), try_login ? 1 : 0));
    if (ec)
        return out;
    std::unique_ptr<uavmail_probe_report, void (*)(uavmail_probe_report *)> g(r, uavmail_probe_free);
    out.verdict = uavmail_probe_verdict(r);
    out.text = uavmail_probe_text(r);
    out.json = uavmail_probe_json(r);
    return out;
}

inline probe_report probe(const Settings &s, bool try_login = true)
{
    check_library_version();
    std::error_code ec;
    probe_report r = probe(s, try_login, ec);
    if (ec)
        detail::throw_error({ec.value(), "probe failed", {}, 0, {}, {}, 0});
    return r;
}

// ---- outbox (libuavmail-flight) ---------------------------------------------------

enum class priority { alert = UAVMAIL_PRIORITY_ALERT, normal = UAVMAIL_PRIORITY_NORMAL,
                      bulk = UAVMAIL_PRIORITY_BULK };
enum class outcome { delivered = UAVMAIL_OUTCOME_DELIVERED, bounced = UAVMAIL_OUTCOME_BOUNCED,
                     expired = UAVMAIL_OUTCOME_EXPIRED, dropped = UAVMAIL_OUTCOME_DROPPED };

struct outbox_entry {
    std::string id;
    int state = 0; ///< enum uavmail_outbox_state
    uavmail::priority priority = priority::normal;
    unsigned attempts = 0;
    bool outcome_unknown = false;
    std::int64_t created = 0, next_attempt = 0, expires = 0;
    std::uint64_t size = 0;
    std::size_t recipients = 0, delivered = 0, failed = 0;
    std::string message_id, subject, last_error;
};

struct outbox_options {
    unsigned max_messages = 0;
    std::uint64_t max_bytes = 0;
    unsigned retry_initial_s = 0, retry_max_s = 0, rate_per_hour = 0;
    bool drop_oldest_bulk = false;
    std::function<void(std::string_view id, outcome, int smtp_code, std::string_view reply)> on_outcome;
    std::function<std::int64_t()> clock;
};

/// A crash-safe outbox directory.
class Outbox {
public:
    explicit Outbox(const std::filesystem::path &dir, outbox_options opts = {})
    {
        check_library_version();
        st_ = std::make_unique<state>();
        st_->opts = std::move(opts);
        uavmail_outbox_options o = UAVMAIL_OUTBOX_OPTIONS_INIT;
        o.max_messages = st_->opts.max_messages;
        o.max_bytes = st_->opts.max_bytes;
        o.retry_initial_s = st_->opts.retry_initial_s;
        o.retry_max_s = st_->opts.retry_max_s;
        o.rate_per_hour = st_->opts.rate_per_hour;
        o.drop_oldest_bulk = st_->opts.drop_oldest_bulk ? 1 : 0;
        if (st_->opts.on_outcome) { o.outcome_cb = &outcome_tramp; o.outcome_user_data = st_.get(); }
        if (st_->opts.clock) { o.time_cb = &time_tramp; o.time_user_data = st_.get(); }
        uavmail_outbox *h = nullptr;
        int rc = uavmail_outbox_open(&h, dir.string().c_str(), &o);
        h_.reset(h);
        if (rc < 0) {
            st_->pend.rethrow(rc, nullptr);
            detail::throw_error({rc, "cannot open the outbox " + dir.string(), {}, 0, {}, {}, 0});
        }
    }
    Outbox(Outbox &&) noexcept = default;
    Outbox &operator=(Outbox &&o) noexcept
    {
        h_.reset();
        st_ = std::move(o.st_);
        h_ = std::move(o.h_);
        return *this;
    }
    uavmail_outbox *native() const noexcept { return h_.get(); }

    /// Store `m` durably; returns the entry id.
    std::string enqueue(Message &m, priority p = priority::normal, std::int64_t expires = 0,
                        std::string_view dedup_key = {})
    {
        char id[64] = {0};
        int rc = uavmail_outbox_enqueue(h_.get(), m.native(), static_cast<int>(p), expires,
                                        detail::opt_cstr(dedup_key), id);
        m.collect();
        if (rc < 0) {
            const uavmail_error_detail *d = uavmail_outbox_last_error(h_.get());
            if (uavmail_error_code(d) != rc)
                m.raise(rc);                  // a message error: its detail is on the message
            st_->pend.rethrow(rc, d);
            detail::throw_error(detail::read_detail(rc, d));
        }
        st_->pend.rethrow(0, nullptr);
        return id;
    }

    void set_link(bool up) noexcept { uavmail_outbox_set_link(h_.get(), up ? 1 : 0); }

    /// Send what is due; returns how many messages finished.
    std::size_t flush(const Settings &s)
    {
        detail::native_settings ns(s);
        size_t sent = 0;
        int rc = uavmail_outbox_flush(h_.get(), ns.get(), &sent);
        const uavmail_error_detail *d = uavmail_outbox_last_error(h_.get());
        ns.pend.rethrow(rc, d);
        st_->pend.rethrow(rc, d);
        if (rc < 0)
            detail::throw_error(detail::read_detail(rc, d));
        return sent;
    }
    std::size_t flush(const Settings &s, std::error_code &ec) noexcept
    {
        size_t sent = 0;
        try {
            detail::native_settings ns(s);
            ec = detail::ec_of(uavmail_outbox_flush(h_.get(), ns.get(), &sent));
        } catch (...) {
            ec = make_error_code(errc::nomem);
        }
        st_->pend.exc = nullptr;
        return sent;
    }

    std::vector<outbox_entry> entries()
    {
        std::vector<outbox_entry> out;
        check(uavmail_outbox_list(h_.get(), &entry_tramp, &out));
        return out;
    }
    void remove(std::string_view id) { check(uavmail_outbox_remove(h_.get(), std::string(id).c_str())); }
    void purge(bool all = false) { check(uavmail_outbox_purge(h_.get(), all ? 1 : 0)); }
    uavmail_outbox_stats stats()
    {
        uavmail_outbox_stats s{};
        s.version = 1;
        check(uavmail_outbox_stats_get(h_.get(), &s));
        return s;
    }

private:
    struct state {
        outbox_options opts;
        detail::pending pend;
    };
    struct deleter {
        void operator()(uavmail_outbox *o) const noexcept { uavmail_outbox_close(o); }
    };
    void check(int rc)
    {
        if (rc < 0)
            detail::throw_error(detail::read_detail(rc, uavmail_outbox_last_error(h_.get())));
    }
    static void outcome_tramp(const char *id, int oc, int code, const char *reply, void *ud)
    {
        auto *st = static_cast<state *>(ud);
        st->pend.guard([&] { st->opts.on_outcome(id, static_cast<outcome>(oc), code, reply); return 0; }, 0);
    }
    static std::int64_t time_tramp(void *ud)
    {
        auto *st = static_cast<state *>(ud);
        return st->pend.guard([&] { return st->opts.clock(); }, std::int64_t{-1});
    }
    static int entry_tramp(const uavmail_outbox_entry *e, void *ud)
    {
        auto *out = static_cast<std::vector<outbox_entry> *>(ud);
        try {
            outbox_entry x;
            x.id = e->id;
            x.state = e->state;
            x.priority = static_cast<priority>(e->priority);
            x.attempts = e->attempts;
            x.outcome_unknown = e->outcome_unknown != 0;
            x.created = e->created;
            x.next_attempt = e->next_attempt;
            x.expires = e->expires;
            x.size = e->size;
            x.recipients = e->recipients;
            x.delivered = e->delivered;
            x.failed = e->failed;
            x.message_id = e->message_id ? e->message_id : "";
            x.subject = e->subject ? e->subject : "";
            x.last_error = e->last_error ? e->last_error : "";
            out->push_back(std::move(x));
            return 0;
        } catch (...) {
            return 1;
        }
    }

    std::unique_ptr<state> st_; // outlives h_: closing may still report outcomes
    std::unique_ptr<uavmail_outbox, deleter> h_;
};

// ---- telemetry (libuavmail-flight) -------------------------------------------------

/// enum uavmail_telemetry_format; combine with | for report_options::formats.
enum class format : unsigned { csv = UAVMAIL_TM_CSV, gpx = UAVMAIL_TM_GPX, kml = UAVMAIL_TM_KML,
                               geojson = UAVMAIL_TM_GEOJSON, cbor = UAVMAIL_TM_CBOR };
constexpr format operator|(format a, format b) noexcept
{
    return static_cast<format>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}

/// enum uavmail_severity (MAVLink MAV_SEVERITY).
enum class severity { emergency = UAVMAIL_SEV_EMERGENCY, alert = UAVMAIL_SEV_ALERT,
                      critical = UAVMAIL_SEV_CRITICAL, error = UAVMAIL_SEV_ERROR,
                      warning = UAVMAIL_SEV_WARNING, notice = UAVMAIL_SEV_NOTICE,
                      info = UAVMAIL_SEV_INFO, debug = UAVMAIL_SEV_DEBUG };

/// enum uavmail_flight_flags.
enum flight_flags : unsigned { flight_alert = UAVMAIL_FLIGHT_ALERT, flight_crash = UAVMAIL_FLIGHT_CRASH };

/// Figures of one flight (NaN, or -1 for min_satellites, where unknown).
using flight_summary = uavmail_flight_summary;

inline constexpr double unknown = std::numeric_limits<double>::quiet_NaN();

/// One telemetry sample; every value starts unknown (NaN, -1, empty).
struct sample {
    sample() = default;
    explicit sample(std::int64_t t_us) : time_us(t_us) {}
    std::int64_t time_us = 0;          ///< UTC microseconds since 1970 (required)
    double lat = unknown, lon = unknown, alt_msl = unknown, alt_rel = unknown;
    double ground_speed = unknown, climb = unknown, heading = unknown;
    double voltage = unknown, current = unknown, remaining = unknown, hdop = unknown;
    int fix_type = -1, satellites = -1, armed = -1, in_air = -1;
    std::string mode;                  ///< e.g. "AUTO" (at most 23 bytes are kept)
    std::vector<double> custom;        ///< values of the channels, in add_channel() order
};

struct telemetry_options {
    std::string vehicle;               ///< e.g. "UAV-7" (subjects, file names)
    std::size_t memory_samples = 0;    ///< 0: the default (256)
    std::filesystem::path spill_dir;   ///< empty: the system's temporary directory
};

struct report_options {
    format formats = format::csv | format::gpx | format::geojson | format::cbor;
    std::filesystem::path raw_log;     ///< .ulg / .bin / .tlog to attach, or empty
    std::uint64_t raw_log_cap = 0;     ///< 0: the default (10 MB encoded)
    unsigned flags = 0;                ///< flight_flags to force on (e.g. flight_crash)
    std::string notes;                 ///< operator notes for the body
};

/// Size of `raw` bytes once base64-encoded in a MIME part.
inline std::uint64_t encoded_size(std::uint64_t raw) noexcept { return uavmail_encoded_size(raw); }

/// A telemetry recorder for one flight.  Move-only; not thread-safe.
///
/// Attachments made by attach() and report() read the recorder while the message is
/// rendered, so the Message shares ownership of it: destroying the Telemetry first is
/// safe, the C recorder is freed with the last message that needs it.
class Telemetry {
public:
    explicit Telemetry(std::string_view vehicle = {})
    {
        telemetry_options o;
        o.vehicle = std::string(vehicle);
        init(o);
    }
    explicit Telemetry(const telemetry_options &o) { init(o); }
    static Telemetry create(const telemetry_options &o, std::error_code &ec) noexcept
    {
        Telemetry t(nullptr);
        ec = detail::version_ec();
        if (!ec)
            ec = t.make(o);
        return t;
    }
    Telemetry(Telemetry &&) noexcept = default;
    Telemetry &operator=(Telemetry &&) noexcept = default;
    Telemetry(const Telemetry &) = delete;
    Telemetry &operator=(const Telemetry &) = delete;

    explicit operator bool() const noexcept { return h_ != nullptr; }
    uavmail_telemetry *native() const noexcept { return h_.get(); }

    /// Declare a custom channel (before the first sample); returns its index in sample::custom.
    std::size_t add_channel(std::string_view name, std::string_view unit = {})
    {
        std::size_t idx = 0;
        call([&] { return uavmail_telemetry_add_channel(h_.get(), detail::opt_cstr(name),
                                                        detail::opt_cstr(unit), &idx); });
        return idx;
    }

    void append(const sample &s) { std::error_code ec; run(append(s, ec)); }
    std::error_code &append(const sample &s, std::error_code &ec) noexcept
    {
        uavmail_sample c;
        uavmail_sample_init(&c, UAVMAIL_SAMPLE_VERSION);
        c.time_us = s.time_us;
        c.lat = s.lat; c.lon = s.lon; c.alt_msl = s.alt_msl; c.alt_rel = s.alt_rel;
        c.ground_speed = s.ground_speed; c.climb = s.climb; c.heading = s.heading;
        c.voltage = s.voltage; c.current = s.current; c.remaining = s.remaining; c.hdop = s.hdop;
        c.fix_type = s.fix_type; c.satellites = s.satellites; c.armed = s.armed; c.in_air = s.in_air;
        c.mode = s.mode.empty() ? nullptr : s.mode.c_str();
        c.custom = s.custom.empty() ? nullptr : s.custom.data();
        c.custom_count = s.custom.size();
        return ec = h_ ? detail::ec_of(uavmail_telemetry_append(h_.get(), &c)) : make_error_code(errc::state);
    }

    std::uint64_t count() const noexcept { return h_ ? uavmail_telemetry_count(h_.get()) : 0; }

    void set_home(double lat, double lon, double alt_msl = unknown)
    { call([&] { return uavmail_telemetry_set_home(h_.get(), lat, lon, alt_msl); }); }

    /// Record an event (a warning, a geofence breach, an alert) at the last position.
    void add_event(std::int64_t time_us, severity sev, std::string_view text)
    { call([&] { return uavmail_telemetry_add_event(h_.get(), time_us, static_cast<int>(sev),
                                                    std::string(text).c_str()); }); }

    flight_summary summary() const
    {
        flight_summary s{};
        s.version = UAVMAIL_FLIGHT_SUMMARY_VERSION;
        call([&] { return uavmail_telemetry_summary(h_.get(), &s); });
        return s;
    }

    /// Write what was recorded so far in one format.
    void write_file(format f, const std::filesystem::path &p)
    { call([&] { return uavmail_telemetry_write_file(h_.get(), static_cast<int>(f), detail::opt_cstr(p)); }); }

    /// Attach the samples recorded so far in one format (streamed while `m` is sent);
    /// `m` shares ownership of the recorder.
    Message &attach(Message &m, format f, std::string_view filename = {})
    {
        need(m);
        call([&] { return uavmail_telemetry_attach(h_.get(), m.native(), static_cast<int>(f),
                                                   detail::opt_cstr(filename)); });
        m.st_->keep.push_back(h_);
        return m;
    }

    /// Make `m` the flight report (subject, bodies, attachments); `m` shares ownership
    /// of the recorder.
    Message &report(Message &m, const report_options &o = {})
    {
        need(m);
        uavmail_report_options c;
        uavmail_report_options_init(&c, UAVMAIL_REPORT_OPTIONS_VERSION);
        c.formats = static_cast<unsigned>(o.formats);
        detail::opt_cstr raw(o.raw_log), notes(std::string_view(o.notes));
        c.raw_log = raw;
        if (o.raw_log_cap)
            c.raw_log_cap = o.raw_log_cap;
        c.flags = o.flags;
        c.notes = notes;
        call([&] { return uavmail_telemetry_report(h_.get(), m.native(), &c); });
        m.st_->keep.push_back(h_);
        return m;
    }

    /// Detail of the last failure (for error_code users).
    error_info last_error() const
    {
        if (!h_)
            return {};
        const uavmail_error_detail *d = uavmail_telemetry_last_error(h_.get());
        return detail::read_detail(uavmail_error_code(d), d);
    }

private:
    explicit Telemetry(std::nullptr_t) noexcept {}
    void init(const telemetry_options &o)
    {
        check_library_version();
        std::error_code ec = make(o);
        if (ec)
            detail::throw_error({ec.value(), "cannot create the telemetry recorder", {}, 0, {}, {}, 0});
    }
    std::error_code make(const telemetry_options &o) noexcept
    {
        try {
            uavmail_telemetry_options c;
            uavmail_telemetry_options_init(&c, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
            detail::opt_cstr vehicle(std::string_view(o.vehicle)), dir(o.spill_dir);
            c.vehicle = vehicle;
            c.spill_dir = dir;
            if (o.memory_samples)
                c.memory_samples = o.memory_samples;
            uavmail_telemetry *t = nullptr;
            std::error_code ec = detail::ec_of(uavmail_telemetry_new(&t, &c));
            h_.reset(t, &uavmail_telemetry_free);
            return ec;
        } catch (...) {
            return make_error_code(errc::nomem);
        }
    }
    static void need(const Message &m)
    {
        if (!m)
            throw error(error_info{UAVMAIL_ESTATE, "the message handle is empty (moved from)", {}, 0, {}, {}, 0});
    }
    template <class F> void call(F &&f) const
    {
        if (!h_)
            throw error(error_info{UAVMAIL_ESTATE, "the telemetry handle is empty (moved from)", {}, 0, {}, {}, 0});
        run(detail::ec_of(f()));
    }
    void run(const std::error_code &ec) const
    {
        if (ec)
            detail::throw_error(h_ ? detail::read_detail(ec.value(), uavmail_telemetry_last_error(h_.get()))
                                   : error_info{ec.value(), "the telemetry handle is empty (moved from)",
                                                {}, 0, {}, {}, 0});
    }

    std::shared_ptr<uavmail_telemetry> h_; // shared with the messages it is attached to
};

// ---- alert rules (libuavmail-flight) -----------------------------------------------

enum class alert_op { above = UAVMAIL_ALERT_ABOVE, below = UAVMAIL_ALERT_BELOW,
                      severity = UAVMAIL_ALERT_SEVERITY };

/// An alert handed to the callback.  The views are valid only during the call.
struct alert {
    std::string_view key;
    std::string_view text;
    uavmail::severity severity = severity::warning;
    double value = unknown;            ///< NaN for events and digests
    std::int64_t time_us = 0;
    unsigned suppressed = 0;           ///< alerts of this key suppressed since the last one sent
    bool digest = false;               ///< a digest of suppressed alerts, not a new event
};

/// One rule (see also Alerts::parse for the one-line syntax).
struct alert_rule {
    std::string key;                   ///< e.g. "battery_low"
    std::string source;                ///< value or event name, e.g. "remaining", "statustext"
    alert_op op = alert_op::above;
    double trigger = 0;
    double clear = unknown;            ///< NaN: the trigger itself
    double hold_s = 0;                 ///< debounce
    double repeat_s = -1;              ///< < 0: the set's default
    uavmail::severity severity = severity::warning;
    std::string text;                  ///< "{value}" is replaced; empty: generated
};

/// A set of alert rules with their state.  The callback runs on the calling thread,
/// inside value(), event(), tick() and flush(); throwing from it stops processing the
/// current input and the exception comes back out of that call, nested in a
/// callback_error.  Move-only; not thread-safe.
class Alerts {
public:
    using callback = std::function<void(const alert &)>;

    explicit Alerts(callback on_alert, std::optional<double> repeat_s = std::nullopt)
    {
        check_library_version();
        st_ = std::make_unique<state>();
        st_->fn = std::move(on_alert);
        uavmail_alerts_options o;
        uavmail_alerts_options_init(&o, UAVMAIL_ALERTS_OPTIONS_VERSION);
        if (repeat_s)
            o.repeat_s = *repeat_s;
        o.cb = &tramp;
        o.user_data = st_.get();
        uavmail_alerts *a = nullptr;
        int rc = uavmail_alerts_new(&a, &o);
        h_.reset(a);
        if (rc < 0)
            detail::throw_error({rc, "cannot create the alert set", {}, 0, {}, {}, 0});
    }
    Alerts(Alerts &&) noexcept = default;
    Alerts &operator=(Alerts &&o) noexcept
    {
        h_.reset();
        st_ = std::move(o.st_);
        h_ = std::move(o.h_);
        return *this;
    }
    uavmail_alerts *native() const noexcept { return h_.get(); }

    /// Add a rule written as one line, e.g. "battery_low: remaining < 20 clear 25 hold 2".
    /// A syntax error throws uavmail::error (errc::inval) whose text gives the column.
    Alerts &parse(std::string_view line)
    { return call([&] { return uavmail_alerts_parse(h_.get(), std::string(line).c_str()); }); }

    Alerts &add(const alert_rule &r)
    {
        uavmail_alert_rule c;
        uavmail_alert_rule_init(&c, UAVMAIL_ALERT_RULE_VERSION);
        c.key = r.key.c_str();
        c.source = r.source.c_str();
        c.op = static_cast<int>(r.op);
        c.trigger = r.trigger;
        c.clear = r.clear;
        c.hold_s = r.hold_s;
        c.repeat_s = r.repeat_s;
        c.severity = static_cast<int>(r.severity);
        c.text = r.text.empty() ? nullptr : r.text.c_str();
        return call([&] { return uavmail_alerts_add(h_.get(), &c); });
    }

    /// Feed a value (NaN: unknown, changes nothing) at `time_us` (UTC, not going backwards).
    Alerts &value(std::string_view source, double v, std::int64_t time_us)
    { return call([&] { return uavmail_alerts_value(h_.get(), std::string(source).c_str(), v, time_us); }); }
    /// Feed an event such as a STATUSTEXT.
    Alerts &event(std::string_view source, uavmail::severity sev, std::string_view text,
                  std::int64_t time_us)
    { return call([&] { return uavmail_alerts_event(h_.get(), std::string(source).c_str(),
                                                    static_cast<int>(sev), std::string(text).c_str(),
                                                    time_us); }); }
    /// Let time pass: digests for keys whose repeat interval has ended.
    Alerts &tick(std::int64_t time_us) { return call([&] { return uavmail_alerts_tick(h_.get(), time_us); }); }
    /// Digests for everything still suppressed (end of a flight).
    Alerts &flush(std::int64_t time_us) { return call([&] { return uavmail_alerts_flush(h_.get(), time_us); }); }

private:
    struct state {
        callback fn;
        detail::pending pend;
    };
    struct deleter {
        void operator()(uavmail_alerts *a) const noexcept { uavmail_alerts_free(a); }
    };
    static int tramp(const uavmail_alert *a, void *ud)
    {
        auto *st = static_cast<state *>(ud);
        return st->pend.guard([&] {
            alert x;
            x.key = a->key ? a->key : "";
            x.text = a->text ? a->text : "";
            x.severity = static_cast<uavmail::severity>(a->severity);
            x.value = a->value;
            x.time_us = a->time_us;
            x.suppressed = a->suppressed;
            x.digest = a->digest != 0;
            if (st->fn)
                st->fn(x);
            return 0;
        }, 1);
    }
    template <class F> Alerts &call(F &&f)
    {
        if (!h_)
            throw error(error_info{UAVMAIL_ESTATE, "the alert set is empty (moved from)", {}, 0, {}, {}, 0});
        int rc = f();
        const uavmail_error_detail *d = uavmail_alerts_last_error(h_.get());
        st_->pend.rethrow(rc, d);
        if (rc < 0)
            detail::throw_error(detail::read_detail(rc, d));
        return *this;
    }

    std::unique_ptr<state> st_; // outlives h_
    std::unique_ptr<uavmail_alerts, deleter> h_;
};

} // namespace uavmail

#endif // UAVMAIL_HPP
