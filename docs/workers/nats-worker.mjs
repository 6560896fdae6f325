// A minimal ontime worker over NATS in Node, with nats.js (npm "nats").
//
//     npm install --prefix docs/workers
//     NATS_URL=nats://127.0.0.1:4222 node docs/workers/nats-worker.mjs
//     bin/ontime --nats nats://127.0.0.1:4222 --processor nats --worker-subject ontime.work
//
// It joins the queue group "ontime-workers" on the subject, so that each event
// reaches one of however many copies run, and answers each event with a small
// JSON result. An event whose payload has "workMs" makes it work that long
// first; it gives up when the event's budget (Ontime-Timeout-Ms) runs out,
// answering the error code 504.

import { connect, headers, Empty } from "nats";

const subject = process.env.SUBJECT || "ontime.work";
const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// An error the way ontime reads it: the NATS services convention's headers
// (a number from 100 to 999 makes the event's failure kind status-NNN).
function fail(m, code, why) {
  const h = headers();
  h.set("Nats-Service-Error-Code", String(code));
  h.set("Nats-Service-Error", why);
  m.respond(Empty, { headers: h });
}

async function work(m) {
  let ev;
  try {
    ev = JSON.parse(dec.decode(m.data));
  } catch (e) {
    return fail(m, 400, "not an event: " + e.message);
  }
  // NATS does not tell a worker that ontime stopped waiting: the budget is
  // how it knows.
  const budget = Number(m.headers?.get("Ontime-Timeout-Ms")) || Infinity;
  const p = ev.payload;
  const workMs = p !== null && typeof p === "object" ? Number(p.workMs) || 0 : 0;
  if (workMs > budget) {
    await sleep(budget);
    return fail(m, 504, "out of time");
  }
  await sleep(workMs);
  const payloadBytes = p === undefined ? 0 : enc.encode(JSON.stringify(p)).length;
  m.respond(enc.encode(JSON.stringify({ worker: "node", id: ev.id, payloadBytes })));
}

const nc = await connect({ servers: process.env.NATS_URL || "nats://127.0.0.1:4222", name: "worker node" });
// A callback, not an async iterator: each event runs as soon as it arrives,
// without waiting for the one before. ontime bounds the calls in flight.
nc.subscribe(subject, {
  queue: "ontime-workers",
  callback: (err, m) => {
    if (err) {
      console.error(err);
      return;
    }
    work(m).catch((e) => console.error(e));
  },
});
await nc.flush();
console.log(`subscribed to ${subject} on ${nc.getServer()}`);
