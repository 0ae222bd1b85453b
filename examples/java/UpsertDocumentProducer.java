// A producer that is not ragstream's: writes one UpsertDocument command to the commands topic in
// the Kafka ecosystem's wire format (magic byte 0, the schema's 4-byte registry id, Avro binary),
// with the schema registered under its record name, as Confluent's and Apicurio's serdes do with
// RecordNameStrategy. Plain Apache Avro and the registry's REST API, so it needs no vendor serde.
//
//   java -cp "$LIBS/*" UpsertDocumentProducer.java BOOTSTRAP REGISTRY_URL TOPIC SCHEMA_FILE \
//        TENANT DOCUMENT_ID TITLE CONTENT
// prints "partition offset" of the acknowledged record.

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.UUID;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class UpsertDocumentProducer {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], registry = args[1], topic = args[2];
        Schema schema = new Schema.Parser().parse(Files.readString(Path.of(args[3])));
        String tenant = args[4], documentId = args[5], title = args[6], content = args[7];

        int schemaId = register(registry, schema);
        String commandId = UUID.randomUUID().toString();
        GenericRecord command = new GenericRecordBuilder(schema)  // unset fields take their defaults
            .set("command_id", commandId)
            .set("tenant", tenant)
            .set("document_id", documentId)
            .set("actor", "service:java-producer")
            .set("event_time", System.currentTimeMillis())
            .set("title", title)
            .set("content", content)
            .set("content_type", "text/plain")
            .build();

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            // Keyed by tenant/document_id: every change of one document lands in one partition, in order.
            byte[] key = (tenant + "/" + documentId).getBytes(StandardCharsets.UTF_8);
            ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, key, encode(schemaId, schema, command));
            record.headers().add("command_id", commandId.getBytes(StandardCharsets.UTF_8));
            record.headers().add("type", "UpsertDocument".getBytes(StandardCharsets.UTF_8));
            RecordMetadata acked = producer.send(record).get();
            System.out.println(acked.partition() + " " + acked.offset());
        }
    }

    // POST /subjects/{record full name}/versions: the id of the schema, registered if it is new
    // (the registry refuses it with 409 when it is incompatible with the subject's earlier versions).
    static int register(String registry, Schema schema) throws Exception {
        String body = JSON.writeValueAsString(java.util.Map.of("schema", schema.toString()));
        HttpRequest request = HttpRequest.newBuilder(URI.create(registry + "/subjects/" + schema.getFullName() + "/versions"))
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build();
        HttpResponse<String> response = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("registry refused the schema: " + response.statusCode() + " " + response.body());
        }
        return JSON.readTree(response.body()).get("id").asInt();
    }

    static byte[] encode(int schemaId, Schema schema, GenericRecord command) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0);
        out.write(ByteBuffer.allocate(4).putInt(schemaId).array());
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema, GenericData.get()).write(command, encoder);
        encoder.flush();
        return out.toByteArray();
    }
}
