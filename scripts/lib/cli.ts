/** Runs a script's main function; any failure prints one clear line and exits non-zero. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`${name}: ${message.split("\n")[0]}`);
      process.exit(1);
    },
  );
}
