// A pod dialer for tests that stand in for the kubelet: connect to a port on this host.
import { createConnection, type Socket } from 'node:net';

export async function dialLocal(port: number): Promise<Socket> {
  const s = createConnection(port, '127.0.0.1');
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}
