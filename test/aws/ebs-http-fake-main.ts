// Runs the local EBS endpoint in a process of its own (for the bench, so the endpoint's work does
// not share the uploader's event loop): prints its URL, serves until killed.
import { startEbsHttpFake } from './ebs-http-fake.ts';

const [min, max] = (process.argv[2] ?? '0-0').split('-').map(Number) as [number, number];
const fake = await startEbsHttpFake({ latency: [min, max] });
process.stdout.write(`${fake.url}\n`);
process.on('SIGTERM', () => {
  fake.close().then(() => process.exit(0));
});
