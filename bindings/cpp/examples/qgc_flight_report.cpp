// A QGroundControl-style plugin hook that e-mails a flight report on landing.
//
// In QGC the class would derive from QGCCorePlugin and override
//     bool mavlinkMessage(Vehicle *vehicle, LinkInterface *link, mavlink_message_t message);
// (see DRONE-NOTES 1.1).  To build here without Qt or the MAVLink headers, the
// few types it touches are stand-ins with the same shape; the uavmail part is
// what a real plugin would contain: a uavmail::Telemetry recorder fed from
// GLOBAL_POSITION_INT and SYS_STATUS, uavmail::Alerts rules fed with the same
// values and STATUSTEXT, and on disarm the recorder's flight report (summary
// bodies, CSV/GPX/KML track).  Mail goes through the crash-safe outbox so a
// report written with the link down is sent later.
//
//   qgc_flight_report PORT CAFILE USER PASSWORD WORKDIR   (simulates one flight)
#include "uavmail.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

// ---- stand-ins for QGC / MAVLink types ----
struct Vehicle { int id() const { return 7; } };
struct LinkInterface {};
enum : std::uint32_t { MAVLINK_MSG_ID_HEARTBEAT = 0, MAVLINK_MSG_ID_SYS_STATUS = 1,
                       MAVLINK_MSG_ID_SYSTEM_TIME = 2, MAVLINK_MSG_ID_GLOBAL_POSITION_INT = 33,
                       MAVLINK_MSG_ID_STATUSTEXT = 253 };
constexpr std::uint8_t MAV_MODE_FLAG_SAFETY_ARMED = 128;
struct mavlink_message_t {          // the decoded fields this plugin reads
    std::uint32_t msgid;
    std::uint8_t base_mode;
    std::uint64_t time_unix_usec;
    std::uint32_t time_boot_ms;
    std::int32_t lat, lon, alt, relative_alt;
    std::uint16_t voltage_battery;
    std::int8_t battery_remaining;
    std::uint8_t severity;
    std::string text;
};

class FlightReportPlugin {
public:
    FlightReportPlugin(uavmail::Settings server, std::filesystem::path outbox_dir,
                       std::string from, std::string to)
        : server_(std::move(server)), outbox_(outbox_dir, outbox_options()),
          alerts_([this](const uavmail::alert &a) { on_alert(a); }),
          from_(std::move(from)), to_(std::move(to))
    {
        // The rules a QGC settings page would edit (uavmail_alerts_parse syntax).
        alerts_.parse("battery_low: remaining < 20 clear 25 hold 2 severity critical "
                      "text Battery low: {value} % left");
        alerts_.parse("statustext: statustext <= critical");
    }

    /// QGCCorePlugin::mavlinkMessage: sees all MAVLink traffic; true keeps it flowing.
    bool mavlinkMessage(Vehicle *vehicle, LinkInterface *, const mavlink_message_t &m)
    {
        switch (m.msgid) {
        case MAVLINK_MSG_ID_SYSTEM_TIME:   // GPS time: stamps samples, alerts, the outbox
            if (m.time_unix_usec)
                boot_offset_us_ = static_cast<std::int64_t>(m.time_unix_usec) -
                                  std::int64_t{m.time_boot_ms} * 1000;
            break;
        case MAVLINK_MSG_ID_HEARTBEAT: {
            bool armed = (m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED) != 0;
            if (armed && !armed_) {
                uavmail::telemetry_options o;
                o.vehicle = "UAV-" + std::to_string(vehicle->id());
                tm_.emplace(o);
            } else if (!armed && armed_) {
                landed(*vehicle);
            }
            armed_ = armed;
            break;
        }
        case MAVLINK_MSG_ID_GLOBAL_POSITION_INT: {
            std::int64_t t = now_us(m.time_boot_ms);
            uavmail::sample s(t);
            s.lat = m.lat / 1e7;
            s.lon = m.lon / 1e7;
            s.alt_msl = m.alt / 1000.0;
            s.alt_rel = m.relative_alt / 1000.0;
            s.voltage = battery_v_;
            s.remaining = battery_pct_;
            s.armed = armed_;
            if (tm_)
                tm_->append(s);
            alerts_.value("alt_rel", s.alt_rel, t);
            break;
        }
        case MAVLINK_MSG_ID_SYS_STATUS:
            battery_v_ = m.voltage_battery / 1000.0;
            battery_pct_ = m.battery_remaining >= 0 ? m.battery_remaining : uavmail::unknown;
            alerts_.value("voltage", battery_v_, now_us());
            alerts_.value("remaining", battery_pct_, now_us());
            break;
        case MAVLINK_MSG_ID_STATUSTEXT:
            if (tm_)
                tm_->add_event(now_us(), static_cast<uavmail::severity>(m.severity), m.text);
            alerts_.event("statustext", static_cast<uavmail::severity>(m.severity), m.text, now_us());
            break;
        }
        if (flush_now_) {                  // alerts queued above jump the queue
            flush_now_ = false;
            flush();
        }
        return true;
    }

    /// Called from a QTimer in QGC: try to send what is queued.
    void flush()
    {
        try {
            outbox_.flush(server_);
        } catch (const uavmail::error &e) {  // stays queued; retried on the next tick
            std::cerr << "uavmail: " << e.what() << "\n";
        }
    }

    unsigned delivered() const { return delivered_; }

private:
    uavmail::outbox_options outbox_options()
    {
        uavmail::outbox_options o;
        o.on_outcome = [this](std::string_view, uavmail::outcome oc, int, std::string_view) {
            delivered_ += oc == uavmail::outcome::delivered;
        };
        o.clock = [this] { return now_us() / 1000000; };   // expiry and retries on GPS time
        return o;
    }
    /// UTC microseconds: boot time plus the SYSTEM_TIME offset, else the local clock.
    std::int64_t now_us(std::optional<std::uint32_t> time_boot_ms = std::nullopt)
    {
        if (time_boot_ms)
            last_boot_ms_ = *time_boot_ms;
        if (!boot_offset_us_)
            boot_offset_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count() -
                              std::int64_t{last_boot_ms_} * 1000;
        return *boot_offset_us_ + std::int64_t{last_boot_ms_} * 1000;
    }
    uavmail::Message message(const Vehicle &v)
    {
        uavmail::Message m;
        m.set_from(from_, "UAV " + std::to_string(v.id())).add_to(to_);
        m.add_header("X-Vehicle-Id", std::to_string(v.id()));
        return m;
    }
    /// Alert callback (runs inside alerts_.value()/event()): queue with alert priority.
    void on_alert(const uavmail::alert &a)
    {
        if (tm_ && !std::isnan(a.value))   // value alerts go into the flight's events too
            tm_->add_event(a.time_us, a.severity, a.text);
        Vehicle v;
        uavmail::Message m = message(v);
        m.set_subject("[UAV-" + std::to_string(v.id()) + "] ALERT: " + std::string(a.text));
        m.set_text(std::string(a.text) + "\n");
        outbox_.enqueue(m, uavmail::priority::alert, a.time_us / 1000000 + 3600);
        flush_now_ = true;
    }
    void landed(const Vehicle &v)
    {
        if (!tm_)
            return;
        alerts_.flush(now_us());
        uavmail::Message m = message(v);
        uavmail::report_options ro;
        ro.formats = uavmail::format::csv | uavmail::format::gpx | uavmail::format::kml;
        tm_->report(m, ro);                // subject, bodies and track files from the recorder
        outbox_.enqueue(m, uavmail::priority::normal);
        tm_.reset();                       // the message shares the recorder until it is gone
        flush_now_ = true;
    }

    uavmail::Settings server_;
    uavmail::Outbox outbox_;
    uavmail::Alerts alerts_;
    std::optional<uavmail::Telemetry> tm_;
    std::string from_, to_;
    bool armed_ = false, flush_now_ = false;
    std::optional<std::int64_t> boot_offset_us_;
    std::uint32_t last_boot_ms_ = 0;
    double battery_v_ = uavmail::unknown, battery_pct_ = uavmail::unknown;
    unsigned delivered_ = 0;
};

int main(int argc, char **argv)
{
    if (argc != 6) {
        std::cerr << "usage: qgc_flight_report PORT CAFILE USER PASSWORD WORKDIR\n";
        return 2;
    }
    uavmail::Settings s;
    s.host = "localhost";
    s.port = static_cast<unsigned>(std::stoul(argv[1]));
    s.security = uavmail::security::tls;
    s.cafile = argv[2];
    s.username = argv[3];
    std::string pw = argv[4];
    s.password = [pw] { return pw; };
    FlightReportPlugin plugin(s, std::filesystem::path(argv[5]) / "qgc-outbox",
                              "uav7@example.test", "ops@example.test");
    Vehicle v;
    LinkInterface link;
    auto msg = [](std::uint32_t id) { mavlink_message_t m{}; m.msgid = id; return m; };
    mavlink_message_t tm = msg(MAVLINK_MSG_ID_SYSTEM_TIME);
    tm.time_unix_usec = 1795356180ULL * 1000000;     // 2026-11-22 14:03:00Z
    plugin.mavlinkMessage(&v, &link, tm);
    mavlink_message_t hb = msg(MAVLINK_MSG_ID_HEARTBEAT);
    hb.base_mode = MAV_MODE_FLAG_SAFETY_ARMED;
    plugin.mavlinkMessage(&v, &link, hb);
    for (int i = 0; i < 5; i++) {
        mavlink_message_t p = msg(MAVLINK_MSG_ID_GLOBAL_POSITION_INT);
        p.time_boot_ms = 1000u * static_cast<unsigned>(i);
        p.lat = 471234567 + i * 100;
        p.lon = 85432100;
        p.alt = 500000 + 10000 * i;
        p.relative_alt = 10000 * i;
        plugin.mavlinkMessage(&v, &link, p);
    }
    mavlink_message_t st = msg(MAVLINK_MSG_ID_STATUSTEXT);
    st.severity = 2;
    st.text = "Battery critical";
    plugin.mavlinkMessage(&v, &link, st);
    hb.base_mode = 0;
    plugin.mavlinkMessage(&v, &link, hb);
    std::cout << "delivered " << plugin.delivered() << "\n";
    return plugin.delivered() == 2 ? 0 : 1;
}
