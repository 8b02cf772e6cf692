// Socket.IO clients for bench/fanout.py: the reference JavaScript client (socket.io-client,
// as pinned in package-lock.json), many in this one node process.
//
//   node bench/js/clients.mjs URL COUNT polling,websocket|websocket DATASET QUERY
//
// Connects COUNT clients in waves of 50, each subscribing to one view and waiting for its
// first figure (and, when it starts on polling, for its upgrade to a WebSocket, as a
// browser's does), collects the garbage of connecting (node --expose-gc), then prints
// "ready". Every update_chart / extend_chart that arrives afterwards is recorded: its
// version and its wall-clock time in ms. A line on stdin ends the run: the clients
// disconnect and one JSON line {"seen": {version: [ms, ...]}, "clients", "websocket"} is
// printed.
// Every wait is bounded; only URL is contacted.
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const [url, countText, transportText, dataset, query] = process.argv.slice(2);
const count = Number(countText);
const transports = transportText.split(",");
const WAVE = 50;
const CONNECT_TIMEOUT_MS = 30_000;

// Wall-clock milliseconds with sub-millisecond resolution, comparable with Python's
// time.time() on the same machine (Date.now() is whole milliseconds).
const now = () => performance.timeOrigin + performance.now();

let seen = null; // version -> arrival times; null until every client is ready
const sockets = [];

function record(payload) {
  if (seen === null) return;
  const key = String(payload.version);
  (seen[key] ||= []).push(now());
}

function connectOne() {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports,
      forceNew: true, // one Engine.IO connection per client, as separate browsers have
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    sockets.push(socket);
    const timer = setTimeout(() => reject(new Error("no first figure in time")),
                             CONNECT_TIMEOUT_MS);
    let gotFigure = false;
    const settle = () => {
      const upgraded = socket.io.engine.transport.name === "websocket";
      if (gotFigure && (upgraded || !transports.includes("websocket"))) {
        clearTimeout(timer);
        resolve();
      }
    };
    socket.io.engine.on("upgrade", settle);
    socket.on("connect_error", (error) => { clearTimeout(timer); reject(error); });
    socket.on("update_chart", (payload) => { record(payload); gotFigure = true; settle(); });
    socket.on("extend_chart", record);
    socket.on("connect", () => socket.emit("subscribe", { dataset, query }));
  });
}

for (let start = 0; start < count; start += WAVE) {
  const wave = [];
  for (let i = start; i < Math.min(count, start + WAVE); i++) wave.push(connectOne());
  await Promise.all(wave);
}
const upgraded = sockets.filter((s) => s.io.engine.transport.name === "websocket").length;
// One process stands in for a thousand browsers, each with a heap of its own: the garbage of
// connecting them all is collected now (node --expose-gc), not in the first updates.
if (globalThis.gc) globalThis.gc();
seen = {};
process.stdout.write("ready\n");

const lines = createInterface({ input: process.stdin });
for await (const _ of lines) break;
const result = { seen, clients: sockets.length, websocket: upgraded };
for (const socket of sockets) socket.disconnect();
// exit once the pipe took it all (a large write to a pipe completes later)
process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
