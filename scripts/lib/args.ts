import { parseArgs } from "node:util";

type Options = Record<string, { type: "string" | "boolean" }>;

/**
 * node:util parseArgs (strict) that also takes a negative number as a value ("--accounts -5"
 * reaches the validator, which then says what is wrong, rather than failing as an ambiguous flag).
 */
export function parseFlags(argv: string[], options: Options): Record<string, string | boolean | undefined> {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : "";
    const next = argv[i + 1];
    if (options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${argv[i]}=${next}`);
      i++;
    } else {
      joined.push(argv[i]);
    }
  }
  return parseArgs({ args: joined, options, strict: true }).values;
}
