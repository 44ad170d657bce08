import Fastify from 'fastify';

/** Baseline (a): Fastify alone returning the payload the API returns for a cached profile. */
const payload = process.env.BENCH_PAYLOAD ?? '{}';
const app = Fastify({ logger: false });
app.get('/payload', (_request, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(payload));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
