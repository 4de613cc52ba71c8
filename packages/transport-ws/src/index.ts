/**
 * @synod/transport-ws: the authenticated WebSocket transport of Synod (an
 * implementation of @synod/core's `Transport` port), and the process runner
 * that starts one replica from a cluster file and a key file.
 */
export * as Connection from "./Connection.js"
export * as Frame from "./Frame.js"
export * as Handshake from "./Handshake.js"
export { HandshakeFailure, HandshakeFailureReason } from "./HandshakeFailure.js"
export * as Limits from "./Limits.js"
export * as Runner from "./Runner.js"
export * as WebSocketTransport from "./WebSocketTransport.js"
export { layer as layerWebSocket } from "./WebSocketTransport.js"
export * as WsMetrics from "./WsMetrics.js"
