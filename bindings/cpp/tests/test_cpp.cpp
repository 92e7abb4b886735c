// Scenarios for the C++ wrapper, driven by bindings/tests/run_cpp.py against the
// loopback TLS + AUTH server (which then checks what was delivered):
//
//   test_cpp SCENARIO PORT CAFILE USER PASSWORD WORKDIR
//
// Prints "ok NAME: detail" per check and exits non-zero if any failed.
#include "uavmail.hpp"

#include <poll.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

static int failures;

static void expect(bool cond, const std::string &name, const std::string &detail = {})
{
    std::cout << (cond ? "ok " : "FAIL ") << name << ": " << detail << "\n";
    if (!cond)
        failures++;
}

static bool contains(const std::string &s, const std::string &what)
{
    return s.find(what) != std::string::npos;
}

struct Args {
    std::string scenario;
    unsigned port = 0;
    std::string cafile, user, password;
    fs::path work;
};

static uavmail::Settings settings(const Args &a, std::string password)
{
    uavmail::Settings s;
    s.host = "localhost";
    s.port = a.port;
    s.security = uavmail::security::tls;
    s.cafile = a.cafile;
    s.username = a.user;
    s.password = [password] { return password; };
    return s;
}

static uavmail::Message basic(const std::string &subject)
{
    uavmail::Message m;
    m.set_from("uav7@example.test", "UAV 7").add_to("ops@example.test").set_subject(subject);
    m.set_text("Landed.\n");
    return m;
}

/// A reader streaming a file through std::ifstream: one buffer, no copy of the content.
static uavmail::reader file_reader(const fs::path &p)
{
    auto in = std::make_shared<std::ifstream>(p, std::ios::binary);
    return [in](char *buf, std::size_t cap, std::uint64_t off) -> long {
        in->clear();
        in->seekg(static_cast<std::streamoff>(off));
        in->read(buf, static_cast<std::streamsize>(cap));
        return static_cast<long>(in->gcount());
    };
}

static long vm_hwm()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stol(line.substr(6)) * 1024;
    return -1;
}

static void scenario_version()
{
    expect(uavmail::version_mismatch(uavmail_version()).empty(), "version.loaded");
    expect(uavmail::version_mismatch(0x000305).empty(), "version.patch");
    std::string why = uavmail::version_mismatch(0x000400);
    expect(contains(why, "written for libuavmail 0.3.0") && contains(why, "version 0.4.0"),
           "version.mismatch", why);
    expect(!uavmail::version_mismatch(0x010000).empty(), "version.major");
}

static void scenario_send(const Args &a)
{
    uavmail::Message m = basic("[UAV-7] Flight report \xc3\xa9t\xc3\xa9");
    m.add_header("X-Vehicle-Id", "7");
    m.attach_file(a.work / "flight.bin");
    m.attach_bytes("time,lat,lon\r\n.\r\n1,47.1,8.5\n", "track.csv", "text/csv");
    m.attach_reader(file_reader(a.work / "stream.bin"), "stream.bin", fs::file_size(a.work / "stream.bin"));
    std::vector<std::string> trace;
    uavmail::Settings s = settings(a, a.password);
    const std::int64_t gps_time = static_cast<std::int64_t>(std::time(nullptr)) - 3600;
    s.clock = [gps_time] { return gps_time; };    // the Date header comes from here
    std::cout << "clock " << gps_time << "\n";
    s.trace = [&](uavmail::trace_direction d, std::string_view line) {
        if (d == uavmail::trace_direction::client)
            trace.emplace_back(line);
    };
    uavmail::Session session(std::move(s));
    auto res = session.send(m);
    expect(res.size() == 1 && res[0].accepted() && res[0].address == "ops@example.test",
           "send.recipients", std::to_string(res.at(0).smtp_code));
    expect(session.is_secure() && contains(session.tls_version(), "TLS"), "send.secure",
           session.tls_version());
    bool auth = false;
    for (auto &l : trace)
        auth = auth || l.rfind("AUTH", 0) == 0;
    expect(auth, "send.trace");

    // The same through the error_code overloads, no exceptions.
    std::error_code ec;
    uavmail::Message m2 = uavmail::Message::create(ec);
    m2.set_from("uav7@example.test", {}, ec);
    m2.add_recipient("ops@example.test", {}, uavmail::recipient_kind::to, ec);
    m2.set_subject("second on the session", ec);
    m2.set_text("no exceptions", ec);
    uavmail::Session s2 = uavmail::Session::create(settings(a, a.password), ec);
    s2.send(m2, true, ec);
    expect(!ec, "send.error_code", ec.message());
}

static void scenario_nonblocking(const Args &a)
{
    uavmail::Message m = basic("non-blocking");
    m.attach_reader(file_reader(a.work / "stream.bin"), "stream.bin");
    uavmail::Session s(settings(a, a.password));
    s.start(m, true);
    int steps = 0;
    for (auto w = s.step(); w; w = s.step(), steps++) {
        pollfd p{s.fd(), static_cast<short>(*w == uavmail::Session::want::read ? POLLIN : POLLOUT), 0};
        if (p.fd >= 0)
            poll(&p, 1, static_cast<int>(s.timeout_ms() ? s.timeout_ms() : 50));
    }
    expect(steps > 0 && s.recipients().at(0).accepted(), "nonblocking.steps", std::to_string(steps));
}

static void scenario_probe(const Args &a)
{
    uavmail::probe_report r = uavmail::probe(settings(a, a.password));
    expect(r.ok() && contains(r.text, "login was accepted"), "probe.ok", r.text.substr(0, 80));
    expect(contains(r.json, "\"auth_mechanisms\""), "probe.json");
    uavmail::probe_report bad = uavmail::probe(settings(a, "wrong"));
    expect(bad.verdict == UAVMAIL_EAUTH && contains(bad.text, "Fix:"), "probe.wrong-password",
           std::to_string(bad.verdict));
}

static void scenario_outbox(const Args &a)
{
    std::vector<std::string> delivered;
    uavmail::outbox_options o;
    o.on_outcome = [&](std::string_view id, uavmail::outcome oc, int, std::string_view) {
        if (oc == uavmail::outcome::delivered)
            delivered.emplace_back(id);
    };
    uavmail::Outbox ob(a.work / "outbox", std::move(o));
    uavmail::Message routine = basic("routine");
    uavmail::Message alert = basic("BATTERY CRITICAL");
    std::string id1 = ob.enqueue(routine);
    std::string id2 = ob.enqueue(alert, uavmail::priority::alert);
    auto entries = ob.entries();
    expect(entries.size() == 2 && ob.stats().alerts == 1, "outbox.enqueue",
           std::to_string(entries.size()));
    std::size_t sent = ob.flush(settings(a, a.password));
    expect(sent == 2 && delivered.size() == 2, "outbox.flush", std::to_string(sent));
    expect(ob.stats().queued == 0, "outbox.empty");
}

static void scenario_errors(const Args &a)
{
    try {
        uavmail::Message m;
        m.add_to("ops@@example.test");
        expect(false, "error.address", "no exception");
    } catch (const uavmail::address_error &e) {
        expect(e.code() == uavmail::errc::address && contains(e.what(), "\"ops@@example.test\""),
               "error.address", e.what());
    }
    try {
        uavmail::Message m = basic("x");
        uavmail::Session(settings(a, "wrong")).send(m);
        expect(false, "error.auth", "no exception");
    } catch (const uavmail::auth_error &e) {
        expect(e.code() == uavmail::errc::auth && e.smtp_code() == 535 &&
                   contains(e.what(), "authentication failed") && contains(e.hint(), "password") &&
                   !e.temporary(),
               "error.auth", e.what());
    }
    try {
        fs::path gone = a.work / "deleted.ulg";
        std::ofstream(gone) << "x";
        uavmail::Message m = basic("x");
        m.attach_file(gone);
        fs::remove(gone);
        uavmail::Session(settings(a, a.password)).send(m);
        expect(false, "error.file", "no exception");
    } catch (const uavmail::file_error &e) {
        expect(contains(e.what(), "cannot be opened") && contains(e.what(), "deleted.ulg"),
               "error.file", e.what());
    }
    try {
        uavmail::Message m = basic("x");
        m.attach_reader([](char *, std::size_t, std::uint64_t) -> long {
            throw std::runtime_error("sensor log vanished");
        }, "a.bin");
        uavmail::Session(settings(a, a.password)).send(m);
        expect(false, "error.callback", "no exception");
    } catch (const uavmail::callback_error &e) {
        std::string inner;
        try {
            std::rethrow_if_nested(e);
        } catch (const std::runtime_error &r) {
            inner = r.what();
        }
        expect(inner == "sensor log vanished", "error.callback", e.what());
    }
    std::error_code ec;
    uavmail::Message m = basic("x");
    uavmail::Session(settings(a, "wrong")).send(m, false, ec);
    expect(ec == uavmail::errc::auth && ec.message() == uavmail_strerror(UAVMAIL_EAUTH),
           "error.error_code", ec.message());
    try {
        uavmail::Message moved = basic("x");
        uavmail::Message to(std::move(moved));
        moved.set_subject("y");
        expect(false, "error.moved", "no exception");
    } catch (const uavmail::error &e) {
        expect(e.code() == uavmail::errc::state, "error.moved", e.what());
    }
}

static void scenario_big(const Args &a)
{
    for (const char *name : {"small.bin", "big.bin"}) {
        uavmail::Message m = basic(name);
        m.attach_reader(file_reader(a.work / name), name, fs::file_size(a.work / name));
        uavmail::Session(settings(a, a.password)).send(m);
        std::cout << "hwm " << name << " " << vm_hwm() << "\n";
    }
}

// ---- telemetry and alerts ----

static const std::int64_t T0 = 1795356180LL * 1000000; // 2026-11-22 14:03:00Z

/// The synthetic flight every binding records (bindings_common checks the files).
static uavmail::sample flight_sample(int i)
{
    const double pi = 3.14159265358979323846;
    uavmail::sample s(T0 + std::int64_t{i} * 100000);
    s.lat = 47.3977 + 0.00005 * i;
    s.lon = 8.5456 + 0.0004 * std::sin(i / 60.0);
    s.alt_rel = 50.0 * std::sin(pi * i / 599);
    s.alt_msl = 400.0 + s.alt_rel;
    s.voltage = 16.8 - 0.003 * i;
    s.current = 12.0;
    s.remaining = 100.0 - 0.1 * i;
    s.hdop = 0.8;
    s.fix_type = 3;
    s.satellites = 12;
    s.armed = 1;
    s.in_air = i >= 10 && i < 590;
    s.mode = "AUTO";
    s.ground_speed = 5.0;
    s.custom = {30.0 + i % 50};
    return s;
}

static double haversine(double lat1, double lon1, double lat2, double lon2)
{
    const double r = 6371008.8, rad = 3.14159265358979323846 / 180;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
               std::cos(lat1 * rad) * std::cos(lat2 * rad) * std::sin(dlon / 2) * std::sin(dlon / 2);
    return 2 * r * std::asin(std::sqrt(h));
}

static bool near(double a, double b, double tol) { return std::fabs(a - b) <= tol; }

static void scenario_telemetry(const Args &a)
{
    uavmail::Message m = basic("replaced by the report");
    uavmail::flight_summary sum{};
    {
        // The recorder lives in this scope only: the message shares ownership, so the
        // send below reads a live recorder (ASan would catch a use after free).
        uavmail::telemetry_options o;
        o.vehicle = "UAV-7";
        o.memory_samples = 64;           // spills to a file in the work directory
        o.spill_dir = a.work;
        uavmail::Telemetry tm(o);
        expect(tm.add_channel("thermal", "degC") == 0, "tm.channel");
        for (int i = 0; i < 600; i++)
            tm.append(flight_sample(i));
        tm.add_event(T0 + 30000000, uavmail::severity::warning, "Hot spot 79 degC");
        expect(tm.count() == 600, "tm.count", std::to_string(tm.count()));
        sum = tm.summary();
        uavmail::report_options ro;
        ro.notes = "Inspection flight, north fence";
        tm.report(m, ro);
        tm.attach(m, uavmail::format::kml, "track.kml");
        std::error_code ec;
        tm.append(flight_sample(0), ec);   // time going backwards
        expect(ec == uavmail::errc::inval && contains(tm.last_error().message, "backwards"),
               "tm.error_code", tm.last_error().message);
        try {
            tm.add_channel("late");
            expect(false, "tm.late-channel", "no exception");
        } catch (const uavmail::error &e) {
            expect(e.code() == uavmail::errc::state || e.code() == uavmail::errc::inval,
                   "tm.late-channel", e.what());
        }
    }
    double dist = 0, max_rel = -1e9, max_msl = -1e9;
    for (int i = 0; i < 600; i++) {
        uavmail::sample s = flight_sample(i);
        max_rel = std::max(max_rel, s.alt_rel);
        max_msl = std::max(max_msl, s.alt_msl);
        if (i) {
            uavmail::sample p = flight_sample(i - 1);
            dist += haversine(p.lat, p.lon, s.lat, s.lon);
        }
    }
    expect(sum.samples == 600 && sum.start_us == T0 && sum.end_us == T0 + 599 * 100000,
           "summary.times", std::to_string(sum.samples));
    expect(near(sum.duration_s, 59.9, 1e-6) && near(sum.air_time_s, 58.0, 1e-6), "summary.duration",
           std::to_string(sum.duration_s));
    expect(near(sum.distance_m, dist, dist * 1e-9), "summary.distance",
           std::to_string(sum.distance_m) + " vs " + std::to_string(dist));
    expect(near(sum.max_alt_rel_m, max_rel, 1e-9) && near(sum.max_alt_msl_m, max_msl, 1e-9),
           "summary.altitude", std::to_string(sum.max_alt_rel_m));
    expect(sum.min_satellites == 12 && sum.events == 1 && sum.warnings == 1 && sum.flags == 0,
           "summary.counts");
    expect(near(sum.home_lat, 47.3977, 1e-12) && near(sum.battery_start_v, 16.8, 1e-12),
           "summary.home");
    uavmail::Session(settings(a, a.password)).send(m);
    std::cout << "sent\n";
}

static void scenario_alerts()
{
    std::vector<std::string> got;
    uavmail::Alerts al([&](const uavmail::alert &x) {
        got.push_back(std::string(x.key) + "@" + std::to_string((x.time_us - T0) / 1000000) + ":" +
                      std::string(x.text) + (x.digest ? " (digest)" : ""));
    }, 0.0);
    al.parse("battery_low: remaining < 20 clear 25 severity critical text Battery low: {value} % left");
    uavmail::alert_rule hot;
    hot.key = "hot";
    hot.source = "thermal";
    hot.op = uavmail::alert_op::above;
    hot.trigger = 80;
    hot.clear = 70;
    al.add(hot);
    const double bat[] = {19, 21, 19, 26, 19};
    for (int i = 0; i < 5; i++)
        al.value("remaining", bat[i], T0 + i * 1000000LL);
    al.value("remaining", uavmail::unknown, T0 + 6000000);
    const double th[] = {81, 75, 85, 69, 90};
    for (int i = 0; i < 5; i++)
        al.value("thermal", th[i], T0 + (10 + i) * 1000000LL);
    std::string all;
    for (auto &g : got)
        all += g + "|";
    expect(all == "battery_low@0:Battery low: 19 % left|battery_low@4:Battery low: 19 % left|"
                  "hot@10:hot: thermal is 81 (above 80)|hot@14:hot: thermal is 90 (above 80)|",
           "alerts.hysteresis", all);

    got.clear();
    uavmail::Alerts ev([&](const uavmail::alert &x) {
        got.push_back(std::string(x.key) + (x.digest ? " digest " + std::to_string(x.suppressed) : ""));
    }, 60.0);
    ev.parse("warn: statustext <= warning");
    for (int i = 0; i < 3; i++)
        ev.event("statustext", uavmail::severity::warning, "Geofence violated", T0 + i * 1000000LL);
    ev.event("statustext", uavmail::severity::info, "Takeoff complete", T0 + 4000000);
    ev.flush(T0 + 10000000);
    expect(got.size() == 2 && got[0] == "warn" && got[1] == "warn digest 2", "alerts.digest",
           got.empty() ? "" : got.back());

    try {
        al.parse("bat remaining < 20");
        expect(false, "alerts.parse-error", "no exception");
    } catch (const uavmail::error &e) {
        expect(e.code() == uavmail::errc::inval && contains(e.what(), "column 5: expected ':'"),
               "alerts.parse-error", e.what());
    }
    uavmail::Alerts boom([](const uavmail::alert &) { throw std::runtime_error("mail queue is gone"); });
    boom.parse("low: remaining < 20");
    try {
        boom.value("remaining", 10, T0);
        expect(false, "alerts.callback", "no exception");
    } catch (const uavmail::callback_error &e) {
        std::string inner;
        try {
            std::rethrow_if_nested(e);
        } catch (const std::runtime_error &r) {
            inner = r.what();
        }
        expect(inner == "mail queue is gone", "alerts.callback", e.what());
    }
    boom.value("remaining", 30, T0 + 1);   // usable afterwards
    uavmail::Alerts moved = std::move(boom);
    moved.value("remaining", 10, T0 + 2).value("remaining", 30, T0 + 3);
    expect(true, "alerts.moved");
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        std::cerr << "usage: test_cpp SCENARIO PORT CAFILE USER PASSWORD WORKDIR\n";
        return 2;
    }
    Args a{argv[1], static_cast<unsigned>(std::stoul(argv[2])), argv[3], argv[4], argv[5], argv[6]};
    try {
        if (a.scenario == "version")
            scenario_version();
        else if (a.scenario == "send")
            scenario_send(a);
        else if (a.scenario == "nonblocking")
            scenario_nonblocking(a);
        else if (a.scenario == "probe")
            scenario_probe(a);
        else if (a.scenario == "outbox")
            scenario_outbox(a);
        else if (a.scenario == "errors")
            scenario_errors(a);
        else if (a.scenario == "big")
            scenario_big(a);
        else if (a.scenario == "telemetry")
            scenario_telemetry(a);
        else if (a.scenario == "alerts")
            scenario_alerts();
        else
            expect(false, "scenario", a.scenario);
    } catch (const std::exception &e) {
        expect(false, "uncaught", e.what());
    }
    return failures ? 1 : 0;
}
