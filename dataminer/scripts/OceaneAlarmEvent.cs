// Automation script "Oceane Alarm Event": for Correlation rules on an alarm's clear or escalation. It sends
// the event to the intake (POST /alarms/events), which records it for the alarm's ticket and answers at
// once; the service then notes or resolves the ticket as OCEANE_ON_ALARM_CLEARED / _UPDATED say. No dialog.
// Parameters: DMA ID, Element ID, Alarm ID (the root key), Event (cleared or updated), Severity, Alarm Value,
// Alarm Event ID (the changed alarm's own id, [field(id)]: a rule run retried sends the same event, which the
// service records once). The intake's URL and token come from the Agent's intake.json, as for the kit's other scripts. An alarm without a ticket is not an error: nothing changes.
namespace OceaneAlarmEvent
{
	using System;
	using System.Collections.Generic;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			ScriptRun.Headless(engine, "Oceane Alarm Event", () => Send(engine));
		}

		/// <summary>Posts the event; the failure text, or null.</summary>
		private static string Send(IEngine engine)
		{
			AlarmRef alarm = AlarmRef.Parse(
				ScriptParams.Get(engine, OceaneNames.DmaIdParam),
				ScriptParams.Get(engine, OceaneNames.ElementIdParam),
				ScriptParams.Get(engine, OceaneNames.AlarmIdParam));
			string kind = (ScriptParams.Get(engine, "Event") ?? string.Empty).Trim().ToLowerInvariant();
			if (kind != "cleared" && kind != "updated")
			{
				return "Event: expected cleared or updated, got '" + kind + "'";
			}

			IntakeSettings settings = IntakeSettings.Load();  // the Agent's intake.json: no token in a rule or hyperlink
			var body = new Dictionary<string, object>
			{
				{ "dmaId", alarm.DmaId },
				{ "elementId", alarm.ElementId },
				{ "alarmId", alarm.AlarmId },
				{ "event", kind },
				{ "time", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ") },
			};
			AddIfSet(body, "severity", ScriptParams.Optional(engine, "Severity"));
			AddIfSet(body, "value", ScriptParams.Optional(engine, OceaneNames.AlarmValueParam));
			string changed = ScriptParams.Optional(engine, "Alarm Event ID");
			if (!string.IsNullOrWhiteSpace(changed))
			{
				// One id per alarm change: the same rule run sent twice is one event, whatever the clock says.
				body["eventId"] = "dm-" + alarm.DmaId + "-" + alarm.AlarmId + "-" + changed.Trim() + "-" + kind;
				body.Remove("time");
			}

			string result = AlarmEventPost.Send(settings, body);
			engine.AddScriptOutput("result", result);
			engine.Log("Oceane Alarm Event: " + kind + " for alarm " + alarm + " -> " + result);
			return null;
		}

		private static void AddIfSet(Dictionary<string, object> body, string key, string value)
		{
			if (!string.IsNullOrWhiteSpace(value))
			{
				body[key] = value.Trim();
			}
		}
	}
}
