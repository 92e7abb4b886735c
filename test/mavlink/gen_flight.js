#!/usr/bin/env node
// Scripted test flights as .tlog files, framed by node-mavlink (an
// implementation independent of uavmail's decoder), plus the ground truth
// the test needs: every sample the bridge should record (decoded from the
// quantised wire values) and the alerts it should raise.
//
//   node gen_flight.js px4|ardupilot|crash OUT.tlog TRUTH.json [START_UNIX_SECONDS]
//
// The ArduPilot-like stream also carries what a bridge must not be fooled by: a
// position from another component (a companion computer at 0.5, 0.5), a second
// battery (id 1) with other figures, HOME_POSITION sent before arming, and
// chunked STATUSTEXTs with a chunk lost and a final chunk lost.  "crash" is the
// ArduPilot flight disarmed in the air at 150 s (motors stopped in flight).
//
// Flight (times from arming at t=10 s): take-off to 50 m, cruise at 8 m/s
// with a battery sag below 20 % that jitters around the threshold, a lost
// GPS fix for 10 s, a geofence breach (ArduPilot: FENCE_STATUS and
// STATUSTEXT; PX4: repeated STATUSTEXT event mirrors ending in a tab),
// landing and disarm.  One GLOBAL_POSITION_INT frame is corrupted on
// purpose (it must be dropped), and a GCS heartbeat is interleaved.
'use strict';
const fs = require('fs');
const {
  MavLinkProtocolV2, minimal, common,
} = require('node-mavlink');

const [, , profile, outPath, truthPath, startArg] = process.argv;
if (!['px4', 'ardupilot', 'crash'].includes(profile) || !outPath || !truthPath) {
  console.error('usage: gen_flight.js px4|ardupilot|crash OUT.tlog TRUTH.json [START]');
  process.exit(64);
}
const px4 = profile === 'px4';
const crash = profile === 'crash';

// 2026-11-22T14:03:00Z in microseconds, or the given start (UNIX seconds) for live tests
const T0 = startArg ? BigInt(startArg) * 1000000n : 1795356180000000n;
const BOOT0_MS = 100000;      // autopilot boot time at T0
const records = [];
const seqs = new Map();
const ap = new MavLinkProtocolV2(1, 1);
const cam = new MavLinkProtocolV2(1, 100); // a thermal camera on the same vehicle
const gcs = new MavLinkProtocolV2(255, 190);

function frame(proto, msg) {
  const key = `${proto.sysid}/${proto.compid}`;
  const seq = seqs.get(key) || 0;
  seqs.set(key, (seq + 1) & 0xff);
  return proto.serialize(msg, seq);
}

function emit(tMs, buf) {
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(T0 + BigInt(tMs) * 1000n);
  records.push(Buffer.concat([ts, buf]));
}

// ---- the flight profile ------------------------------------------------------------------
const HOME = { lat: 47.3977418, lon: 8.5455939, alt: 488.0 };
const ARM_MS = 10000, TAKEOFF_END = 20000, CRUISE_END = 200000, LAND_END = 215000;
const DISARM_MS = crash ? 150000 : 220000, END_MS = crash ? 155000 : 225000;
const GPS_LOST = [90000, 100000];
const FENCE_MS = 140000;
const CORRUPT_MS = 55300;

function state(tMs) {
  const s = { armed: tMs >= ARM_MS && tMs < DISARM_MS };
  let north = 0, east = 0, rel = 0, vn = 0, ve = 0, vd = 0;
  if (tMs < ARM_MS) {
    s.landed = 1;
  } else if (crash && tMs >= DISARM_MS) { // falling: still "in the air" by the autopilot
    const d = (DISARM_MS - TAKEOFF_END) / 1000 * 8;
    north = d * Math.cos(Math.PI / 6); east = d * Math.sin(Math.PI / 6);
    rel = Math.max(0, 50 - (tMs - DISARM_MS) / 100); vd = 10; s.landed = 2;
  } else if (tMs < TAKEOFF_END) {
    const f = (tMs - ARM_MS) / (TAKEOFF_END - ARM_MS);
    rel = 50 * f; vd = -5; s.landed = 3;
  } else if (tMs < CRUISE_END) {
    const d = (tMs - TAKEOFF_END) / 1000 * 8; // metres along a 30-degree heading
    north = d * Math.cos(Math.PI / 6); east = d * Math.sin(Math.PI / 6);
    vn = 8 * Math.cos(Math.PI / 6); ve = 8 * Math.sin(Math.PI / 6);
    rel = 50; s.landed = 2;
  } else {
    const d = (CRUISE_END - TAKEOFF_END) / 1000 * 8;
    north = d * Math.cos(Math.PI / 6); east = d * Math.sin(Math.PI / 6);
    const f = Math.min(1, (tMs - CRUISE_END) / (LAND_END - CRUISE_END));
    rel = 50 * (1 - f); vd = f < 1 ? 50 / 15 : 0;
    s.landed = tMs < LAND_END ? 4 : 1;
  }
  const k = 180 / Math.PI / 6371008.8;
  s.lat = HOME.lat + north * k;
  s.lon = HOME.lon + east * k / Math.cos(HOME.lat * Math.PI / 180);
  s.rel = rel; s.alt = HOME.alt + rel; s.vn = vn; s.ve = ve; s.vd = vd;
  // battery: 100 % to 15 % over the armed time, jittering around 20 % near the end
  const ft = Math.max(0, Math.min(1, (tMs - ARM_MS) / (DISARM_MS - ARM_MS)));
  let rem = Math.round(100 - 85 * ft);
  if (tMs > 170000 && tMs < 185000) rem = [19, 21, 19, 22, 20, 19][Math.floor(tMs / 1000) % 6];
  s.rem = rem;
  s.cell_mv = Math.round(4200 - 700 * ft);
  s.current_ca = s.armed ? (tMs < TAKEOFF_END ? 2500 : 1500) : 50;
  s.fix = tMs >= GPS_LOST[0] && tMs < GPS_LOST[1] ? 1 : 3;
  s.sats = s.fix === 3 ? 14 - Math.floor(tMs / 60000) : 3;
  s.eph = s.fix === 3 ? 90 + Math.floor(tMs / 60000) * 10 : 500;
  return s;
}

const truth = { profile, samples: [], expected_alerts: [] };
let last = { volt: null, curr: null, rem: null, fix: null, sats: null, hdop: null, in_air: -1 };

for (let t = 0; t <= END_MS; t += 100) {
  const s = state(t);
  const boot = BOOT0_MS + t;
  if (t % 1000 === 0) {
    const hb = new minimal.Heartbeat();
    hb.type = 2; // quadrotor
    hb.autopilot = px4 ? 12 : 3;
    hb.baseMode = (s.armed ? 0x80 : 0) | 0x01 | 0x18;
    hb.customMode = px4 ? (s.armed ? (4 << 16) | (4 << 24) : (3 << 16)) : (s.armed ? 3 : 5);
    hb.systemStatus = s.armed ? 4 : 3;
    hb.mavlinkVersion = 3;
    emit(t, frame(ap, hb));
    const g = new minimal.Heartbeat(); // a ground station's heartbeat: to be ignored
    g.type = 6; g.autopilot = 8; g.baseMode = 0; g.customMode = 0; g.systemStatus = 4;
    g.mavlinkVersion = 3;
    emit(t, frame(gcs, g));
    const st = new common.SystemTime();
    st.timeUnixUsec = T0 + BigInt(t) * 1000n;
    st.timeBootMs = boot;
    emit(t, frame(ap, st));
    const ex = new common.ExtendedSysState();
    ex.vtolState = 0; ex.landedState = s.landed;
    emit(t, frame(ap, ex));
    last.in_air = s.landed === 1 ? 0 : 1;
    if (px4) {
      const ss = new common.SysStatus();
      ss.onboardControlSensorsPresent = 0x0160FC2F;
      ss.onboardControlSensorsEnabled = 0x0160FC2F;
      ss.onboardControlSensorsHealth = 0x0160FC2F;
      ss.load = 300; ss.voltageBattery = s.cell_mv * 4; ss.currentBattery = s.current_ca;
      ss.batteryRemaining = s.rem; ss.dropRateComm = 0; ss.errorsComm = 0;
      emit(t, frame(ap, ss));
      last.volt = ss.voltageBattery / 1000;
    } else {
      const bs = new common.BatteryStatus();
      bs.id = 0; bs.batteryFunction = 1; bs.type = 1; bs.temperature = 3500;
      bs.voltages = [s.cell_mv, s.cell_mv, s.cell_mv, s.cell_mv, 65535, 65535, 65535, 65535,
                     65535, 65535];
      bs.currentBattery = s.current_ca; bs.currentConsumed = -1; bs.energyConsumed = -1;
      bs.batteryRemaining = s.rem; bs.timeRemaining = 0; bs.chargeState = 1;
      bs.voltagesExt = [0, 0, 0, 0]; bs.mode = 0; bs.faultBitmask = 0;
      emit(t, frame(ap, bs));
      last.volt = 4 * s.cell_mv / 1000;
    }
    last.curr = s.current_ca / 100;
    last.rem = s.rem;
  }
  if (t % 1000 === 500) { // the camera's hottest pixel: over 80 degC between 150 s and 160 s
    const nv = new common.NamedValueFloat();
    nv.timeBootMs = boot; nv.name = 'thermal'; // names are at most 10 bytes
    nv.value = t >= 150000 && t < 160000 ? 85.5 : 40 + (t % 7000) / 1000;
    emit(t, frame(cam, nv));
    last.thermal = Math.fround(nv.value);
  }
  if (!px4 && t % 1000 === 0) { // a second battery: must not be mixed into the first's figures
    const b1 = new common.BatteryStatus();
    b1.id = 1; b1.batteryFunction = 1; b1.type = 1; b1.temperature = 3000;
    b1.voltages = [2750, 2750, 2750, 2750, 65535, 65535, 65535, 65535, 65535, 65535];
    b1.currentBattery = 100; b1.currentConsumed = -1; b1.energyConsumed = -1;
    b1.batteryRemaining = 10; b1.timeRemaining = 0; b1.chargeState = 3;
    b1.voltagesExt = [0, 0, 0, 0]; b1.mode = 0; b1.faultBitmask = 0;
    emit(t, frame(ap, b1));
  }
  if (!px4 && t === 60000) { // a companion computer's own position (compid 191): not the vehicle's
    const cc = new MavLinkProtocolV2(1, 191);
    const gx = new common.GlobalPositionInt();
    gx.timeBootMs = boot; gx.lat = 5000000; gx.lon = 5000000; gx.alt = 0; gx.relativeAlt = 0;
    gx.vx = 0; gx.vy = 0; gx.vz = 0; gx.hdg = 0;
    emit(t, frame(cc, gx));
  }
  if (!px4 && t === 70000) { // chunked text, chunk 1 lost: both parts reported, marked
    for (const [seq, text] of [[0, 'A'.repeat(50)], [2, 'tail of text 7']]) {
      const tx = new common.StatusText();
      tx.severity = 5; tx.text = text; tx.id = 7; tx.chunkSeq = seq;
      emit(t, frame(ap, tx));
    }
  }
  if (!px4 && !crash && t === 190000) { // critical text whose final chunk is lost
    const tx = new common.StatusText();
    tx.severity = 2; tx.text = 'Battery 2 is critically low, land immediately. Che'; tx.id = 9;
    tx.chunkSeq = 0;
    emit(t, frame(ap, tx));
  }
  if (t === 5000) { // home is set before arming
    const hp = new common.HomePosition();
    hp.latitude = Math.round(HOME.lat * 1e7); hp.longitude = Math.round(HOME.lon * 1e7);
    hp.altitude = Math.round(HOME.alt * 1000); hp.x = 0; hp.y = 0; hp.z = 0; hp.q = [1, 0, 0, 0];
    hp.approachX = 0; hp.approachY = 0; hp.approachZ = 0; hp.timeUsec = 0n;
    emit(t, frame(ap, hp));
  }
  if (t % 200 === 0) {
    const gr = new common.GpsRawInt();
    gr.timeUsec = T0 + BigInt(t) * 1000n; gr.fixType = s.fix;
    gr.lat = Math.round(s.lat * 1e7); gr.lon = Math.round(s.lon * 1e7);
    gr.alt = Math.round(s.alt * 1000); gr.eph = s.eph; gr.epv = 200;
    gr.vel = Math.round(Math.hypot(s.vn, s.ve) * 100); gr.cog = 3000;
    gr.satellitesVisible = s.sats; gr.altEllipsoid = 0; gr.hAcc = 0; gr.vAcc = 0;
    gr.velAcc = 0; gr.hdgAcc = 0; gr.yaw = 0;
    emit(t, frame(ap, gr));
    last.fix = s.fix; last.sats = s.sats; last.hdop = s.eph / 100;
  }
  if (t === 30000) { // informational text: recorded, no alert
    const tx = new common.StatusText();
    tx.severity = 6; tx.text = 'Takeoff complete'; tx.id = 0; tx.chunkSeq = 0;
    emit(t, frame(ap, tx));
  }
  if (t >= FENCE_MS && t < FENCE_MS + 5000 && t % 1000 === 0) {
    if (px4) { // PX4 mirrors events as STATUSTEXT ending in a tab, repeated
      const tx = new common.StatusText();
      tx.severity = 4; tx.text = 'Geofence violated\t'; tx.id = 0; tx.chunkSeq = 0;
      emit(t, frame(ap, tx));
    } else {
      const fs_ = new common.FenceStatus();
      fs_.breachStatus = 1; fs_.breachCount = 1; fs_.breachType = 2;
      fs_.breachTime = BOOT0_MS + FENCE_MS; fs_.breachMitigation = 0;
      emit(t, frame(ap, fs_));
      if (t === FENCE_MS) {
        const tx = new common.StatusText();
        tx.severity = 2; tx.text = 'Fence Breached'; tx.id = 0; tx.chunkSeq = 0;
        emit(t, frame(ap, tx));
      }
    }
  }
  if (!px4 && t >= FENCE_MS + 5000 && t < FENCE_MS + 8000 && t % 1000 === 0) {
    const fs_ = new common.FenceStatus();
    fs_.breachStatus = 0; fs_.breachCount = 1; fs_.breachType = 0;
    fs_.breachTime = BOOT0_MS + FENCE_MS; fs_.breachMitigation = 0;
    emit(t, frame(ap, fs_));
  }
  if (t === DISARM_MS && truth.samples.length) {
    // the bridge records the disarmed state itself, at the latest time it knows
    const prev = truth.samples[truth.samples.length - 1];
    truth.samples.push({ ...prev, armed: 0, in_air: last.in_air });
  }
  const gp = new common.GlobalPositionInt();
  gp.timeBootMs = boot;
  gp.lat = Math.round(s.lat * 1e7); gp.lon = Math.round(s.lon * 1e7);
  gp.alt = Math.round(s.alt * 1000); gp.relativeAlt = Math.round(s.rel * 1000);
  gp.vx = Math.round(s.vn * 100); gp.vy = Math.round(s.ve * 100); gp.vz = Math.round(s.vd * 100);
  gp.hdg = 3000;
  const buf = frame(ap, gp);
  if (t === CORRUPT_MS) {
    buf[12] ^= 0x55; // damaged on the link: the CRC no longer matches
    emit(t, buf);
    continue;
  }
  emit(t, buf);
  if (s.armed) {
    truth.samples.push({
      time_us: Number(T0) + t * 1000,
      lat: gp.lat / 1e7, lon: gp.lon / 1e7, alt_msl: gp.alt / 1000, alt_rel: gp.relativeAlt / 1000,
      ground_speed: Math.hypot(gp.vx, gp.vy) / 100, voltage: last.volt, current: last.curr,
      remaining: last.rem, fix_type: last.fix, satellites: last.sats, hdop: last.hdop,
      in_air: last.in_air, armed: 1, thermal: last.thermal === undefined ? null : last.thermal,
    });
  }
}

truth.expected_alerts = px4
  ? ['gps_lost', 'statustext', 'thermal', 'battery_low', 'statustext(digest)']
  : crash ? ['gps_lost', 'geofence', 'statustext', 'battery_low', 'thermal']
    : ['gps_lost', 'geofence', 'statustext', 'thermal', 'battery_low', 'statustext(digest)'];
truth.home = HOME;
fs.writeFileSync(outPath, Buffer.concat(records));
fs.writeFileSync(truthPath, JSON.stringify(truth));
console.log(`${profile}: ${records.length} records, ${truth.samples.length} samples`);
