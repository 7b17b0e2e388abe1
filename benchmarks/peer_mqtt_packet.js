// The peer in the codec benchmark: the npm codec mqtt-packet (tests/node),
// timed on the same PUBLISH packets as benchmarks/codec_bench.cpp, so the
// README can give ratios measured in the same run.
//   node benchmarks/peer_mqtt_packet.js
'use strict';
const path = require('path');
const mqtt = require(path.join(__dirname, '..', 'tests', 'node', 'node_modules', 'mqtt-packet'));

function publish(payloadSize, withProperties, protocolVersion) {
  const packet = {
    cmd: 'publish', topic: 'sensors/room-042', payload: Buffer.alloc(payloadSize, 'x'),
    qos: 0, retain: false, dup: false,
  };
  if (withProperties) {
    packet.properties = {
      payloadFormatIndicator: true, messageExpiryInterval: 3600,
      contentType: 'application/json', userProperties: { source: 'sensor-17' },
    };
  }
  return { packet, opts: { protocolVersion } };
}

function time(name, fn) {
  for (let i = 0; i < 20000; i++) fn(); // warm up the JIT
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const n = 200000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const ns = Number(process.hrtime.bigint() - start) / n;
    best = Math.min(best, ns);
  }
  console.log(`${name.padEnd(36)} ${best.toFixed(1)} ns`);
}

const cases = [
  ['publish_qos0_64B', 64, false, 5],
  ['publish_qos0_64B_4props', 64, true, 5],
  ['publish_qos0_64KiB', 65536, false, 5],
  ['publish_qos0_64B_v311', 64, false, 4],
];
for (const [name, size, props, version] of cases) {
  const { packet, opts } = publish(size, props, version);
  time(`encode/${name}`, () => mqtt.generate(packet, opts));
  const bytes = mqtt.generate(packet, opts);
  const parser = mqtt.parser(opts);
  let parsed = 0;
  parser.on('packet', () => { parsed++; });
  time(`decode/${name}`, () => parser.parse(bytes));
  if (parsed === 0) throw new Error('mqtt-packet parsed nothing');
}
