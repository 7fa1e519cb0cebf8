/**
 * Imported first by tests that watch Ink draw frames. Ink reads CI and CONTINUOUS_INTEGRATION once, when it is
 * loaded, and in a CI it draws only the last frame (is-in-ci); these tests check what a user's terminal sees, so they
 * load Ink as it is loaded outside a CI. Each test file runs in its own process, so nothing else sees the change.
 */
delete process.env.CI;
delete process.env.CONTINUOUS_INTEGRATION;
