import SwiftCaffeIO

/// Arrays shown as a grid of small pictures in one image, as Caffe's filter-visualisation
/// notebook shows a layer's filters and activations.
///
/// Every tile is `height`×`width` values, gray (one channel) or colour (three, in Caffe's BGR
/// order, shown as RGB). Values are mapped to 0...255 over all tiles together, so tiles stay
/// comparable; tiles are enlarged by whole pixels to at least `minimumTile` pixels, and laid
/// out in rows of ⌈√n⌉ with a one-pixel gray gap.
public struct TileGrid {
    public var tiles: [[Float]]
    public var height: Int
    public var width: Int
    public var channels: Int

    public init(tiles: [[Float]], height: Int, width: Int, channels: Int) {
        self.tiles = tiles
        self.height = height
        self.width = width
        self.channels = channels
    }

    public func image(minimumTile: Int = 24) -> RasterImage {
        let zoom = max(1, (minimumTile + max(height, width) - 1) / max(height, width))
        let columns = max(1, Int(Double(tiles.count).squareRoot().rounded(.up)))
        let rows = max(1, (tiles.count + columns - 1) / columns)
        let tileHeight = height * zoom, tileWidth = width * zoom
        let imageWidth = columns * (tileWidth + 1) + 1, imageHeight = rows * (tileHeight + 1) + 1
        var pixels = [UInt8](repeating: 128, count: imageWidth * imageHeight * channels)
        let finite = tiles.joined().filter(\.isFinite)
        let low = finite.min() ?? 0, high = finite.max() ?? 1
        let range = high > low ? high - low : 1
        for (index, tile) in tiles.enumerated() {
            let top = 1 + (index / columns) * (tileHeight + 1), left = 1 + (index % columns) * (tileWidth + 1)
            for y in 0..<tileHeight {
                for x in 0..<tileWidth {
                    for c in 0..<channels {
                        let source = channels == 3 ? 2 - c : c  // BGR planes -> RGB pixels
                        let value = tile[(source * height + y / zoom) * width + x / zoom]
                        let level = value.isFinite ? (value - low) / range * 255 : 0
                        pixels[((top + y) * imageWidth + left + x) * channels + c] = UInt8(min(max(level.rounded(), 0), 255))
                    }
                }
            }
        }
        return RasterImage(width: imageWidth, height: imageHeight, channels: channels, pixels: pixels)
    }
}
