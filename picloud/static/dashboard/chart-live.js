/*
 * Live points on the chart (chart.js): while its range ends now, each event
 * on it is subscribed to, and each message's number for a line's field is
 * appended to that line (as its mean, min and max), drawn once a frame
 * however many arrive, with the range moved on to the hub's now.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var live = {};            // event -> its callback
    var pending = false;      // a redraw is waiting for the next frame

    D.stopLive = function () {
        Object.keys(live).forEach(function (event) { D.unsubscribe(event, live[event]); });
        live = {};
    };

    // moveOn(): sets chart.from and chart.to to the range as of now.
    D.startLive = function (chart, moveOn) {
        D.stopLive();
        (chart.shown || []).forEach(function (line) {
            if (!live[line.event]) {
                live[line.event] = function (message) {
                    if (message.retained !== true) {  // not the value sent on subscribing: on the chart already
                        append(chart, line.event, message, moveOn);
                    }
                };
                D.subscribe(line.event, live[line.event]);
            }
        });
    };

    function append(chart, event, message, moveOn) {
        var at = Date.parse(message.created_at) / 1000;  // the hub's clock, as its readings are
        var added = false;
        chart.shown.forEach(function (line) {
            var value = line.event === event ? D.fieldValue(message.data, line.field) : null;
            if (value !== null && isFinite(at)) {
                line.t.push(at);
                line.mean.push(value);
                if (line.min) {
                    line.min.push(value);
                    line.max.push(value);
                }
                added = true;
            }
        });
        if (added && chart.plot && !pending) {
            pending = true;
            D.nextFrame(function () {
                pending = false;
                if (chart.plot) {
                    moveOn();
                    chart.data = D.plotData(chart.shown);
                    chart.plot.setData(chart.data);
                }
            });
        }
    }
}(this));
