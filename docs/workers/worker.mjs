// A minimal ontime worker in Node, no dependencies.
//
//   ADDR=127.0.0.1:8093 node docs/workers/worker.mjs
//   bin/ontime --processor http --worker-url http://127.0.0.1:8093/work
//
// It answers each event with a small JSON result. An event whose payload has
// "workMs" makes it work that long first; it gives up when the event's budget
// (Ontime-Timeout-Ms) runs out or ontime hangs up, whichever comes first.
import http from "node:http";

const MAX_BODY = 1 << 20;

function answer(res, status, result) {
  const body = JSON.stringify(result);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/work") {
    return answer(res, 404, { error: "POST /work" });
  }
  const budget = Number.parseInt(req.headers["ontime-timeout-ms"], 10);
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      answer(res, 413, { error: "body too large" });
      req.destroy();
    } else {
      chunks.push(chunk);
    }
  });
  req.on("end", () => {
    let event;
    try {
      event = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      return answer(res, 400, { error: `not an event: ${e.message}` });
    }
    const payload = event.payload;
    const workMs = typeof payload?.workMs === "number" ? payload.workMs : 0;

    const work = setTimeout(() => {
      clearTimeout(giveUp);
      const payloadBytes = payload === undefined ? 0 : Buffer.byteLength(JSON.stringify(payload));
      answer(res, 200, { worker: "node", id: event.id, payloadBytes });
    }, workMs);
    const giveUp = Number.isFinite(budget)
      ? setTimeout(() => {
          clearTimeout(work);
          answer(res, 504, { error: "out of time" });
        }, budget)
      : undefined;
    // ontime hangs up at the deadline: stop working for nobody.
    res.on("close", () => {
      clearTimeout(work);
      clearTimeout(giveUp);
    });
  });
});

// ontime keeps idle connections for 90 s; closing them sooner (Node's
// default is 5 s) risks a call racing the close and failing as "reset".
server.keepAliveTimeout = 90_000;

const [host, port] = (process.env.ADDR ?? "127.0.0.1:8093").split(/:(?=[^:]*$)/);
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}/work`);
});
