// The one place Node gets its WebRTC: @roamhq/wrtc ships its native binary
// inside the npm package, so it installs on machines that cannot download
// node-datachannel's. To use node-datachannel instead, drop the override in
// the root package.json.
import wrtc from '@roamhq/wrtc';

export const RTCPeerConnection = wrtc.RTCPeerConnection;
export const RTCSessionDescription = wrtc.RTCSessionDescription;
export const RTCIceCandidate = wrtc.RTCIceCandidate;
export const RTCDataChannel = wrtc.RTCDataChannel;
export const RTCPeerConnectionIceEvent = wrtc.RTCPeerConnectionIceEvent;
export const RTCDataChannelEvent = wrtc.RTCDataChannelEvent;
export const MediaStream = wrtc.MediaStream;
export const MediaStreamTrack = wrtc.MediaStreamTrack;

export default {
  RTCPeerConnection,
  RTCSessionDescription,
  RTCIceCandidate,
  RTCDataChannel,
  RTCPeerConnectionIceEvent,
  RTCDataChannelEvent,
  MediaStream,
  MediaStreamTrack,
};
