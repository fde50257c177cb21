import parquet from "@dsnp/parquetjs";

const codec = process.argv[2] ?? "SNAPPY";
const opt = (type) => ({ type, optional: true, compression: codec });
const list = (type) => ({
  type: "LIST",
  optional: true,
  fields: { list: { repeated: true, fields: { element: opt(type) } } },
});
const schema = new parquet.ParquetSchema({
  window_start: opt("INT64"),
  block: opt("INT64"),
  commit: {
    optional: true,
    fields: {
      tokens: list("INT32"),
      commitments: opt("UTF8"),
      model: { optional: true, fields: { name: opt("UTF8"), layer_index: opt("INT32") } },
      rollout: {
        optional: true,
        fields: { total_reward: opt("DOUBLE"), success: opt("BOOLEAN"), token_logprobs: list("FLOAT") },
      },
    },
  },
  timestamp: opt("DOUBLE"),
});
const N = Number(process.argv[3] ?? 512),
  T = 1000;
const t0 = performance.now();
const w = await parquet.ParquetWriter.openFile(schema, "/tmp/p.parquet", { useDataPageV2: false });
w.setMetadata("wallet", "5abc");
for (let r = 0; r < N; r++) {
  const toks = Array.from({ length: T }, (_, i) => (i * 7919 + r) % 151000);
  const lps = Array.from({ length: T }, (_, i) => (i < 200 ? 0 : -Math.random() * 3));
  const comm = "[" + toks.map(() => `{"sketch": ${(Math.random() * 2147483647) | 0}}`).join(", ") + "]";
  await w.appendRow({
    window_start: 4999980,
    block: 4999987,
    commit: {
      tokens: { list: toks.map((element) => ({ element })) },
      commitments: comm,
      model: { name: "m", layer_index: -1 },
      rollout: {
        total_reward: 0.5,
        success: false,
        token_logprobs: { list: lps.map((element) => ({ element })) },
      },
    },
    timestamp: 1712345678.123456,
  });
}
await w.close();
const t1 = performance.now();
const fs = await import("node:fs");
console.log(codec, "write ms", (t1 - t0) | 0, "bytes", fs.statSync("/tmp/p.parquet").size);
const rd = await parquet.ParquetReader.openFile("/tmp/p.parquet");
console.log(
  JSON.stringify(
    rd.metadata.schema.map((s) => [
      s.name,
      s.type,
      s.repetition_type,
      s.converted_type,
      s.num_children,
      s.logicalType,
    ]),
  ),
);
console.log(rd.metadata.key_value_metadata);
const cur = rd.getCursor();
const row = await cur.next();
console.log(
  typeof row.window_start,
  row.window_start,
  row.commit.tokens.list.slice(0, 2),
  row.commit.rollout.token_logprobs.list.slice(199, 202),
);
console.log("read ms", (performance.now() - t1) | 0);
