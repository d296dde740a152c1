/* version.c - the build's version string, shared by the server and its tests. */
const char *encore_version(void);
const char *encore_version(void) { return "0.1.0"; }
