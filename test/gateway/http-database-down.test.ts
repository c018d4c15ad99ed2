/**
 * A database outage is the gateway's problem, not the client's: it must answer 503
 * `database_unavailable` (so clients retry later) rather than a 500 or a 4xx, and must not charge.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import Koa from "koa";
import { expect } from "chai";
import { isDatabaseUnavailable } from "../../gateway/db/database.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { silentLogger } from "../../gateway/log.js";

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("database outages", () => {
  it("are told apart from statement errors", () => {
    expect(isDatabaseUnavailable(withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"))).to.equal(true);
    expect(isDatabaseUnavailable(withCode("terminating connection due to administrator command", "57P01"))).to.equal(true);
    expect(isDatabaseUnavailable(withCode("connection failure", "08006"))).to.equal(true);
    expect(isDatabaseUnavailable(withCode("canceling statement due to statement timeout", "57014"))).to.equal(true);
    expect(isDatabaseUnavailable(new Error("Connection terminated unexpectedly"))).to.equal(true);
    expect(isDatabaseUnavailable(new Error("timeout exceeded when trying to connect"))).to.equal(true);
    // Our own bugs stay bugs: a constraint violation or a syntax error is not an outage.
    expect(isDatabaseUnavailable(withCode("duplicate key value", "23505"))).to.equal(false);
    expect(isDatabaseUnavailable(withCode("syntax error", "42601"))).to.equal(false);
    expect(isDatabaseUnavailable(new Error("something else"))).to.equal(false);
    expect(isDatabaseUnavailable("ECONNREFUSED")).to.equal(false);
  });

  describe("over HTTP", () => {
    let server: Server;
    let base: string;
    let thrown: unknown;

    before(async () => {
      const app = new Koa();
      app.use(requestId(silentLogger()));
      app.use(errorHandler());
      app.use(() => {
        throw thrown;
      });
      server = app.listen(0, "127.0.0.1");
      await new Promise<void>((resolve) => server.once("listening", () => resolve()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("answers 503 database_unavailable when the database is unreachable", async () => {
      thrown = withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED");
      const response = await fetch(`${base}/paid`);
      expect(response.status).to.equal(503);
      expect(await response.json()).to.deep.include({ error: "database_unavailable" });
    });

    it("still answers 500 for an error that is our bug, without leaking its message", async () => {
      thrown = withCode("column \"secret\" does not exist", "42703");
      const response = await fetch(`${base}/paid`);
      expect(response.status).to.equal(500);
      const body = (await response.json()) as { error: string; message: string };
      expect(body.error).to.equal("internal_error");
      expect(body.message).to.not.contain("secret");
    });
  });
});
