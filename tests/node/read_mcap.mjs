// Reads an MCAP file with @mcap/core (the TypeScript reader) and prints what it found as JSON.
// usage: node read_mcap.mjs FILE [indexed|stream]
//   indexed: McapIndexedReader (needs the index a finished file ends with)
//   stream:  McapStreamReader (reads record by record, as far as the file is whole)
import { readFile, open } from "node:fs/promises";
import { McapIndexedReader, McapStreamReader } from "@mcap/core";
import { decompress } from "fzstd";

const decompressHandlers = { zstd: (data, size) => decompress(data, new Uint8Array(Number(size))) };
const [file, mode = "indexed"] = process.argv.slice(2);
const decoder = new TextDecoder();
const out = { channels: {}, metadata: {}, counts: {}, first: {}, last: {}, messages: [] };

function take(channel, message) {
  const topic = channel.topic;
  out.counts[topic] = (out.counts[topic] ?? 0) + 1;
  const time = message.logTime.toString();
  out.first[topic] ??= time;
  out.last[topic] = time;
  if (topic !== "/camera/image") {
    out.messages.push({ topic, logTime: time, data: JSON.parse(decoder.decode(message.data)) });
  }
}

if (mode === "indexed") {
  const handle = await open(file, "r");
  const readable = {
    size: async () => BigInt((await handle.stat()).size),
    read: async (offset, length) => {
      const buffer = new Uint8Array(Number(length));
      await handle.read(buffer, 0, Number(length), Number(offset));
      return buffer;
    },
  };
  const reader = await McapIndexedReader.Initialize({ readable, decompressHandlers });
  for (const [id, channel] of reader.channelsById) {
    const schema = reader.schemasById.get(channel.schemaId);
    out.channels[channel.topic] = { id, schemaName: schema.name, schemaEncoding: schema.encoding, messageEncoding: channel.messageEncoding, schema: decoder.decode(schema.data) };
  }
  for await (const record of reader.readMetadata()) out.metadata[record.name] = Object.fromEntries(record.metadata);
  for await (const message of reader.readMessages()) take(reader.channelsById.get(message.channelId), message);
  out.messageCount = Number(reader.statistics?.messageCount ?? -1);
  out.library = reader.header.library;
} else {
  const reader = new McapStreamReader({ decompressHandlers });
  reader.append(await readFile(file));
  const channels = new Map();
  const schemas = new Map();
  try {
    for (let record; (record = reader.nextRecord()); ) {
      if (record.type === "Schema") schemas.set(record.id, record);
      else if (record.type === "Channel") {
        channels.set(record.id, record);
        const schema = schemas.get(record.schemaId);
        out.channels[record.topic] = { id: record.id, schemaName: schema?.name, schemaEncoding: schema?.encoding, messageEncoding: record.messageEncoding, schema: schema && decoder.decode(schema.data) };
      } else if (record.type === "Metadata") out.metadata[record.name] = Object.fromEntries(record.metadata);
      else if (record.type === "Header") out.library = record.library;
      else if (record.type === "Message") take(channels.get(record.channelId), record);
    }
  } catch (error) {
    out.error = String(error);
  }
  out.done = reader.done();
}
process.stdout.write(JSON.stringify(out));
