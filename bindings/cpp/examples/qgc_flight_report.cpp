// A QGroundControl-style plugin hook that e-mails a flight report on landing.
//
// In QGC the class would derive from QGCCorePlugin and override
//     bool mavlinkMessage(Vehicle *vehicle, LinkInterface *link, mavlink_message_t message);
// (see DRONE-NOTES 1.1).  To build here without Qt or the MAVLink headers, the
// few types it touches are stand-ins with the same shape; the uavmail part is
// what a real plugin would contain.  Mail goes through the crash-safe outbox so
// a report written with the link down is sent later.
//
//   qgc_flight_report PORT CAFILE USER PASSWORD WORKDIR   (simulates one flight)
#include "uavmail.hpp"

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

// ---- stand-ins for QGC / MAVLink types ----
struct Vehicle { int id() const { return 7; } };
struct LinkInterface {};
enum : std::uint32_t { MAVLINK_MSG_ID_HEARTBEAT = 0, MAVLINK_MSG_ID_SYS_STATUS = 1,
                       MAVLINK_MSG_ID_GLOBAL_POSITION_INT = 33, MAVLINK_MSG_ID_STATUSTEXT = 253 };
constexpr std::uint8_t MAV_MODE_FLAG_SAFETY_ARMED = 128;
struct mavlink_message_t {          // the decoded fields this plugin reads
    std::uint32_t msgid;
    std::uint8_t base_mode;
    std::uint32_t time_boot_ms;
    std::int32_t lat, lon, relative_alt;
    std::uint16_t voltage_battery;
    std::uint8_t severity;
    std::string text;
};

class FlightReportPlugin {
public:
    FlightReportPlugin(uavmail::Settings server, std::filesystem::path outbox_dir,
                       std::string from, std::string to)
        : server_(std::move(server)), outbox_(outbox_dir, outbox_options()),
          from_(std::move(from)), to_(std::move(to)) {}

    /// QGCCorePlugin::mavlinkMessage: sees all MAVLink traffic; true keeps it flowing.
    bool mavlinkMessage(Vehicle *vehicle, LinkInterface *, const mavlink_message_t &m)
    {
        switch (m.msgid) {
        case MAVLINK_MSG_ID_HEARTBEAT: {
            bool armed = (m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED) != 0;
            if (armed && !armed_) {
                track_.str("");
                track_ << "time_boot_ms,lat,lon,relative_alt_m\n";
                max_alt_m_ = 0;
            } else if (!armed && armed_) {
                landed(*vehicle);
            }
            armed_ = armed;
            break;
        }
        case MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
            if (armed_) {
                double alt = m.relative_alt / 1000.0;
                max_alt_m_ = alt > max_alt_m_ ? alt : max_alt_m_;
                track_ << m.time_boot_ms << ',' << m.lat / 1e7 << ',' << m.lon / 1e7 << ','
                       << alt << '\n';
            }
            break;
        case MAVLINK_MSG_ID_SYS_STATUS:
            battery_v_ = m.voltage_battery / 1000.0;
            break;
        case MAVLINK_MSG_ID_STATUSTEXT:
            if (m.severity <= 2)
                alert(*vehicle, m.text);
            break;
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
        return o;
    }
    uavmail::Message message(const Vehicle &v, const std::string &subject)
    {
        uavmail::Message m;
        m.set_from(from_, "UAV " + std::to_string(v.id())).add_to(to_).set_subject(subject);
        m.add_header("X-Vehicle-Id", std::to_string(v.id()));
        return m;
    }
    void alert(const Vehicle &v, const std::string &text)
    {
        uavmail::Message m = message(v, "[UAV-" + std::to_string(v.id()) + "] ALERT: " + text);
        m.set_text(text + "\n");
        outbox_.enqueue(m, uavmail::priority::alert);
        flush();
    }
    void landed(const Vehicle &v)
    {
        std::ostringstream body;
        body << "Flight report for UAV " << v.id() << "\nmax relative altitude: " << max_alt_m_
             << " m\nbattery: " << battery_v_ << " V\n";
        uavmail::Message m = message(v, "[UAV-" + std::to_string(v.id()) + "] Flight report");
        m.set_text(body.str());
        // The telemetry writers (issue 7) will add a .tlog / CBOR log here; the
        // CSV goes out through a reader lambda, without a copy in the library.
        auto csv = std::make_shared<std::string>(track_.str());
        m.attach_reader([csv](char *buf, std::size_t cap, std::uint64_t off) -> long {
            return static_cast<long>(csv->copy(buf, cap, static_cast<std::size_t>(off)));
        }, "track.csv", csv->size(), "text/csv");
        outbox_.enqueue(m, uavmail::priority::normal);
        flush();
    }

    uavmail::Settings server_;
    uavmail::Outbox outbox_;
    std::string from_, to_;
    bool armed_ = false;
    std::ostringstream track_;
    double max_alt_m_ = 0, battery_v_ = 0;
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
    mavlink_message_t hb = msg(MAVLINK_MSG_ID_HEARTBEAT);
    hb.base_mode = MAV_MODE_FLAG_SAFETY_ARMED;
    plugin.mavlinkMessage(&v, &link, hb);
    for (int i = 0; i < 5; i++) {
        mavlink_message_t p = msg(MAVLINK_MSG_ID_GLOBAL_POSITION_INT);
        p.time_boot_ms = 1000u * static_cast<unsigned>(i);
        p.lat = 471234567 + i * 100;
        p.lon = 85432100;
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
