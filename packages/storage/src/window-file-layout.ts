/**
 * How a window file's schema maps onto §6.4: fields matched by name (columns the schema does not
 * have are ignored, as the reference's validator ignores them), physical types compared, and the
 * definition/repetition levels of each leaf derived from the file's own repetition types, so that
 * REQUIRED or OPTIONAL fields and every list layout pyarrow reads as a list are accepted.
 */
import type parquet from "@dsnp/parquetjs";
import type thrift from "@dsnp/parquetjs/dist/gen-nodejs/parquet_types.js";
import type { LeafColumn } from "./window-file-decode.js";
import { type Fail, PHYSICAL_TYPES, type Physical } from "./window-file-encodings.js";
import { windowFileSchema } from "./window-file-schema.js";

type SchemaElement = InstanceType<typeof thrift.SchemaElement>;

const REPETITION = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const;
const CONVERTED_LIST = 3;
const MAX_SCHEMA_DEPTH = 16;

/** A node of the §6.4 schema: a primitive, a list of primitives, or a struct. */
interface Expected {
  name: string;
  physical?: Physical;
  element?: Physical;
  children?: Expected[];
}

type SchemaFields = Record<string, parquet.ParquetField>;

function expectedFields(fields: SchemaFields): Expected[] {
  return Object.values(fields).map((f): Expected => {
    if (f.originalType === "LIST") {
      const element = f.fields!.list!.fields!.element!;
      return { name: f.name, element: element.primitiveType as Physical };
    }
    if (f.isNested) return { name: f.name, children: expectedFields(f.fields!) };
    return { name: f.name, physical: f.primitiveType as Physical };
  });
}

/** The writer's schema is the one a file is read against. */
const EXPECTED = expectedFields(windowFileSchema("UNCOMPRESSED").fields as SchemaFields);

/** A leaf column of the file matched to the schema. */
export interface Leaf extends LeafColumn {
  /** Its path in the file (path_in_schema). */
  readonly filePath: string;
  /** nulls[d]: the field that is null when an entry's definition level is d < maxDef. */
  readonly nulls: readonly string[];
  /** Lists: the definition level of an empty list. */
  readonly emptyAt: number | null;
}

interface SchemaNode {
  el: SchemaElement;
  children: SchemaNode[];
}

function schemaTree(elements: SchemaElement[], fail: Fail): SchemaNode {
  let at = 0;
  const build = (depth: number): SchemaNode => {
    const el = elements[at++];
    if (!el) fail("has a schema with fewer elements than its groups declare");
    if (depth > MAX_SCHEMA_DEPTH) fail(`has a schema nested deeper than ${MAX_SCHEMA_DEPTH}`);
    const n = el!.num_children ?? 0;
    if (!(Number.isInteger(n) && n >= 0 && n <= elements.length - at))
      fail(`declares ${n} children of ${el!.name}`);
    const children: SchemaNode[] = [];
    for (let i = 0; i < n; i++) children.push(build(depth + 1));
    return { el: el!, children };
  };
  const root = build(0);
  if (at !== elements.length) fail("has schema elements outside its root");
  return root;
}

function matchFields(
  nodes: SchemaNode[],
  expected: Expected[],
  scope: { key: string[]; file: string[]; def: number; nulls: string[] },
  out: Leaf[],
  fail: Fail,
): void {
  for (const exp of expected) {
    const key = [...scope.key, exp.name].join(".");
    const node = nodes.find((n) => n.el.name === exp.name);
    if (!node) fail(`has no column ${key} (spec §6.4)`);
    const rep = node!.el.repetition_type ?? REPETITION.REQUIRED;
    const file = [...scope.file, node!.el.name];
    const physical = PHYSICAL_TYPES.get(node!.el.type ?? -1);
    const isLeaf = node!.children.length === 0;
    if (exp.element) {
      matchList(node!, exp.element, key, file, scope, out, fail);
      continue;
    }
    if (rep === REPETITION.REPEATED) fail(`has ${key} as a repeated field; §6.4 has one value per row`);
    const def = scope.def + (rep === REPETITION.OPTIONAL ? 1 : 0);
    const nulls = rep === REPETITION.OPTIONAL ? [...scope.nulls, key] : scope.nulls;
    if (exp.children) {
      if (isLeaf) fail(`has ${key} as a ${physical ?? "primitive"}; §6.4 has a struct`);
      matchFields(
        node!.children,
        exp.children,
        { key: [...scope.key, exp.name], file, def, nulls },
        out,
        fail,
      );
      continue;
    }
    if (!isLeaf || physical !== exp.physical) {
      fail(
        `has ${key} as ${isLeaf ? (physical ?? `type ${node!.el.type}`) : "a group"}; §6.4 has ${exp.physical}`,
      );
    }
    out.push({
      path: key,
      filePath: file.join("."),
      physical: physical!,
      maxDef: def,
      maxRep: 0,
      nulls,
      emptyAt: null,
    });
  }
}

/**
 * A list of primitives in any layout pyarrow reads as one: the 3-level LIST (any element name),
 * a LIST-annotated group around a repeated primitive, or a bare repeated primitive.
 */
function matchList(
  node: SchemaNode,
  element: Physical,
  key: string,
  file: string[],
  scope: { def: number; nulls: string[] },
  out: Leaf[],
  fail: Fail,
): void {
  const wrongShape = () => fail(`has ${key} in a shape that is not a list of ${element}`);
  const rep = node.el.repetition_type ?? REPETITION.REQUIRED;
  let leafNode = node;
  let emptyAt = scope.def;
  let maxDef = scope.def + 1;
  let nulls = scope.nulls;
  if (rep !== REPETITION.REPEATED) {
    const annotated = node.el.converted_type === CONVERTED_LIST || node.el.logicalType?.LIST !== undefined;
    if (!annotated || node.children.length !== 1) wrongShape();
    if (rep === REPETITION.OPTIONAL) nulls = [...nulls, key];
    emptyAt = scope.def + (rep === REPETITION.OPTIONAL ? 1 : 0);
    maxDef = emptyAt + 1;
    const repeated = node.children[0]!;
    if (repeated.el.repetition_type !== REPETITION.REPEATED) wrongShape();
    file.push(repeated.el.name);
    leafNode = repeated;
    if (repeated.children.length > 0) {
      if (repeated.children.length !== 1) wrongShape();
      leafNode = repeated.children[0]!;
      const elementRep = leafNode.el.repetition_type ?? REPETITION.REQUIRED;
      if (elementRep === REPETITION.REPEATED) wrongShape();
      if (elementRep === REPETITION.OPTIONAL) maxDef++;
      file.push(leafNode.el.name);
    }
  }
  const physical = PHYSICAL_TYPES.get(leafNode.el.type ?? -1);
  if (leafNode.children.length > 0 || physical !== element) {
    fail(`has ${key} as a list of ${physical ?? "groups"}; §6.4 has a list of ${element}`);
  }
  out.push({ path: key, filePath: file.join("."), physical: element, maxDef, maxRep: 1, nulls, emptyAt });
}

/** The file's leaf columns that §6.4 names, with their levels; refuses a file missing one. */
export function matchWindowSchema(elements: SchemaElement[], fail: Fail): Leaf[] {
  const leaves: Leaf[] = [];
  const root = schemaTree(elements, fail);
  matchFields(root.children, EXPECTED, { key: [], file: [], def: 0, nulls: [] }, leaves, fail);
  return leaves;
}
