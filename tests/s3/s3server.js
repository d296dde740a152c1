// s3server.js - start @20minutes/s3rver (a real S3-compatible server that
// checks SigV4 signatures and wants x-amz-content-sha256) for the tests.
//   node s3server.js DIR PORT BUCKET...   prints "READY PORT" when listening
// Credentials: access key S3RVER, secret S3RVER (the server's own account).
// SIGUSR1 rotates the secret to "rotated" (every signature made with the old
// one is refused: "wrong credentials"), SIGUSR2 restores it.
'use strict';
const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');
const [dir, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1', port: Number(port), directory: dir, silent: true,
  vhostBuckets: false, configureBuckets: buckets.map((name) => ({ name })),
});
process.on('SIGUSR1', () => AWSAccount.DUMMY_ACCOUNT.accessKeys.set('S3RVER', 'rotated'));
process.on('SIGUSR2', () => AWSAccount.DUMMY_ACCOUNT.accessKeys.set('S3RVER', 'S3RVER'));
// SIGTERM: stop listening and exit within a second. close() alone waits for every
// open connection, and an Encore server polling every second keeps its
// keep-alive connection busy for ever: the test's s3_stop then never returned
// (e2e_objstore passed its checks and hung to ctest's timeout under TSan).
process.on('SIGTERM', () => {
  setTimeout(() => process.exit(0), 1000);
  server.close().then(() => process.exit(0));
});
server.run().then((a) => console.log(`READY ${a.port}`), (e) => { console.error(e.message); process.exit(1); });
