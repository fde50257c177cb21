import { describe, expect, it } from "vitest";
import { GrailError, HexFormatError, ProtocolViolationError } from "../src/index.js";

describe("GrailError", () => {
  it("names itself after its class and takes the class name as code unless given one", () => {
    class WidgetJammed extends GrailError {}
    const plain = new WidgetJammed("the widget jammed; clear it and retry", { widget: 7 });
    expect(plain).toBeInstanceOf(Error);
    expect(plain.name).toBe("WidgetJammed");
    expect(plain.code).toBe("WidgetJammed");
    expect(plain.context).toEqual({ widget: 7 });
    expect(plain.message).toBe("the widget jammed; clear it and retry");
    expect(Object.hasOwn(plain, "cause")).toBe(false);

    const cause = new Error("gear stripped");
    const coded = new WidgetJammed("jammed", {}, { code: "widget_jammed", cause });
    expect(coded.code).toBe("widget_jammed");
    expect(coded.cause).toBe(cause);
    expect(new GrailError("bare").context).toEqual({});
  });

  it("is the base of the protocol's own errors, whose context carries the offending values", () => {
    const err = new HexFormatError("odd length", { length: 3 });
    expect(err).toBeInstanceOf(ProtocolViolationError);
    expect(err).toBeInstanceOf(GrailError);
    expect([err.name, err.code]).toEqual(["HexFormatError", "HexFormatError"]);
    expect(err.context).toEqual({ length: 3 });
  });
});
