// Sends one call of each type through @segment/analytics-node to the service at argv[2] (its `host`
// option) with the write key argv[3], then flushes. Exits non-zero if the library reports an error.
const { Analytics } = require("@segment/analytics-node");

const [host, writeKey] = process.argv.slice(2);
const analytics = new Analytics({ writeKey, host, flushAt: 10, flushInterval: 200 });
let failed = false;
analytics.on("error", (err) => {
  failed = true;
  console.error("analytics-node error:", err && (err.reason || err.message || err));
});

const userId = "u-node";
analytics.identify({ userId, traits: { email: "grace@example.com", plan: "team" } });
analytics.track({ userId, event: "Report Exported", properties: { rows: 42 }, messageId: "node-1" });
analytics.track({ userId, event: "Report Exported", properties: { rows: 42 }, messageId: "node-1" });
analytics.page({ userId, name: "Billing", properties: { url: "https://app.example.com/billing" } });
analytics.screen({ userId, name: "Settings" });
analytics.group({ userId, groupId: "g-node", traits: { name: "Initech" } });
analytics.alias({ userId, previousId: "anon-node" });

analytics.closeAndFlush({ timeout: 10000 }).then(() => process.exit(failed ? 1 : 0));
