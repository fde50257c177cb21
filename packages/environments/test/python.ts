/** The interpreter the sandbox tests run: the test run's GRAIL_PYTHON, else python3. */
export const TEST_PYTHON = process.env.GRAIL_PYTHON || "python3";
