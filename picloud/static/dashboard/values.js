/*
 * What the page reads out of messages and names, as the hub does:
 * - D.numbers(data): the numeric fields of a message, by field path, the
 *   rules of picloud/stores/sqlite/points.py (a plain number is field "",
 *   a boolean 0 or 1, objects give their numeric fields, nested ones as
 *   dotted paths), so that a live message lands on the series the hub
 *   records it in;
 * - D.groupOf(event): the device an event's name says it is of, for the
 *   overview's groups (Tasmota's tele/<device>/SENSOR, Zigbee2MQTT's
 *   zigbee2mqtt/<device>, Home Assistant's, Shelly's; otherwise the first
 *   of several levels: kitchen/temp is kitchen's);
 * - D.publishedBy(event, clientName): whether an event's name names that
 *   client (a level equal to its name, or the same id at the end of both:
 *   client DVES_4A1B2C publishes tele/tasmota_4A1B2C/SENSOR). Messages do
 *   not say who published them, so this is all the page can know.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var MAX_FIELDS = 64, MAX_DEPTH = 4, MAX_FIELD_CHARS = 128;

    D.numbers = function (data) {
        var found = [];
        walk(data, "", found, 0);
        return found;
    };

    function walk(value, path, found, depth) {
        if (typeof value === "boolean") {
            found.push([path, value ? 1 : 0]);
        } else if (typeof value === "number") {
            if (isFinite(value)) {
                found.push([path, value]);
            }
        } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
            if (depth >= MAX_DEPTH) {
                return;
            }
            var prefix = path ? path + "." : "";
            var keys = Object.keys(value);
            for (var i = 0; i < keys.length && found.length < MAX_FIELDS; i++) {
                var item = value[keys[i]];
                if (keys[i].length > MAX_FIELD_CHARS) {
                    continue;
                }
                if (item !== null && typeof item === "object") {
                    walk(item, prefix + keys[i], found, depth + 1);
                } else {
                    walk(item, prefix + keys[i], found, depth);
                }
            }
        }
    }

    // The number of one field of a message, or null.
    D.fieldValue = function (data, field) {
        var found = D.numbers(data);
        for (var i = 0; i < found.length; i++) {
            if (found[i][0] === field) {
                return found[i][1];
            }
        }
        return null;
    };

    // prefix -> which level (0-based) names the device
    var DEVICE_LEVEL = {tele: 1, stat: 1, cmnd: 1, zigbee2mqtt: 1, shellies: 1, homeassistant: 2,
                        owntracks: 2, tasmota: 2, esphome: 1, "rtl_433": 1};

    D.groupOf = function (event) {
        var levels = event.split("/");
        var at = DEVICE_LEVEL[levels[0].toLowerCase()];
        if (at !== undefined && levels.length > at + 1) {
            return levels[at];
        }
        return levels.length > 1 ? levels[0] : "";
    };

    // The event's name without its group's level: tele/plug/SENSOR -> tele/SENSOR.
    D.labelIn = function (event, group) {
        if (!group) {
            return event;
        }
        var levels = event.split("/");
        var at = levels.indexOf(group);
        if (at >= 0) {
            levels.splice(at, 1);
        }
        return levels.join("/") || event;
    };

    function idOf(name) {
        var parts = name.split(/[-_:.]/);
        var last = parts[parts.length - 1];
        // An id has digits (4A1B2C, 0x00158d): "sensor" in porch-sensor is no id.
        return parts.length > 1 && last.length >= 4 && /\d/.test(last) ? last.toLowerCase() : null;
    }

    // Event names the page has heard of (recorded, in the topic tree, live),
    // for what each device publishes.
    var known = {};
    D.knownVersion = 0;
    D.learnEvents = function (names) {
        var added = false;
        names.forEach(function (name) {
            if (!known[name] && name.indexOf("$SYS/") !== 0) {
                known[name] = true;
                added = true;
            }
        });
        if (added) {
            D.knownVersion += 1;
        }
    };
    D.knownEvents = function () { return Object.keys(known); };

    D.publishedBy = function (event, clientName) {
        var name = clientName.toLowerCase();
        var id = idOf(clientName);
        var levels = event.toLowerCase().split("/");
        for (var i = 0; i < levels.length; i++) {
            if (levels[i] === name || (id !== null && idOf(levels[i]) === id)) {
                return true;
            }
        }
        return false;
    };
}(this));
