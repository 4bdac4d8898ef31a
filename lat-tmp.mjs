import { Pool } from 'undici';
import { readFileSync } from 'node:fs';
const pid = Number(process.argv[2]);
const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const body = JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] });
const pool = new Pool('http://127.0.0.1:18997', { connections: 16 });
const N = 4000; let i = 0;
const c0 = cpu(); const t0 = performance.now();
async function w() { while (i++ < N) { const r = await pool.request({ path: '/v1beta/models/nano-banana:generateContent', method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': 'nanogate-dev-key' }, body }); await r.body.dump(); } }
await Promise.all(Array.from({ length: 16 }, w));
console.log('rps', (N / (performance.now() - t0) * 1000).toFixed(0), 'cpu ms/req', ((cpu() - c0) / N).toFixed(3));
await pool.close();
