import OpenAI from "openai";
import { Engine, type EngineOptions } from "../../core/engine.ts";
import { createServer, type InferServer, type ServerOptions } from "../../server/app.ts";
import { sharedModel } from "./paths.ts";

export interface TestServer {
  server: InferServer;
  url: string;
  engine: Engine;
  /** The official openai client pointed at the server (no retries, so 503s show). */
  client: (apiKey?: string) => OpenAI;
  close(): Promise<void>;
}

/** A server of stories15M-q8_0 (id "stories") on a free loopback port, loaded. */
export async function startTestServer(options: Partial<ServerOptions> = {}, engine: Partial<EngineOptions> = {}): Promise<TestServer> {
  const server = createServer({
    models: [{ id: "stories", load: () => Engine.load({ model: sharedModel("stories15M-q8_0.gguf"), threads: 2, ...engine }) }],
    metrics: true,
    ...options,
  });
  const { url } = await server.listen(0);
  const [loaded] = await server.models.ready();
  return {
    server,
    url,
    engine: loaded!,
    client: (apiKey = "none") => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 }),
    close: () => server.close(),
  };
}

/** A metric's value from Prometheus text, e.g. metric(text, "infer_repl_kv_blocks", { state: "free" }). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  throw new Error(`no metric ${name} ${JSON.stringify(labels)}`);
}
