// Automation script "Oceane Add Note": the "Add Note to Ticket" hyperlink (interactive). It asks for the note
// and sends it to the intake as an alarm event (POST /alarms/events, event "note"); the service adds it to the
// alarm's Oceane ticket exactly once, with the operator as its author. Parameters: DMA ID, Element ID, Alarm ID
// (the intake's URL and token from the Agent's intake.json). The event id is made once per dialog, so a repeated send is one note.
namespace OceaneAddNote
{
	using System;
	using System.Collections.Generic;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		private const string AddButton = "add";
		private const string CancelButton = "cancel";
		private const int MaxNote = 4000;

		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			try
			{
				AlarmRef alarm = AlarmRef.Parse(
					ScriptParams.Get(engine, OceaneNames.DmaIdParam),
					ScriptParams.Get(engine, OceaneNames.ElementIdParam),
					ScriptParams.Get(engine, OceaneNames.AlarmIdParam));
				IntakeSettings settings = IntakeSettings.Load();  // the Agent's intake.json: no token in a rule or hyperlink
				string note = Ask(engine, alarm);
				if (note == null)
				{
					return;
				}

				var body = new Dictionary<string, object>
				{
					{ "dmaId", alarm.DmaId },
					{ "elementId", alarm.ElementId },
					{ "alarmId", alarm.AlarmId },
					{ "event", "note" },
					{ "text", note },
					{ "user", engine.UserLoginName ?? string.Empty },
					{ "eventId", "note-" + Guid.NewGuid().ToString("N") },
				};
				string result = AlarmEventPost.Send(settings, body);
				Tell(engine, result == "no_ticket" ? "This alarm has no Oceane ticket: the note was not sent." : "The note is on its way to the Oceane ticket.");
			}
			catch (InputException e)
			{
				engine.Log("Oceane Add Note: " + e.Message);
				Tell(engine, e.Message);
			}
		}

		/// <summary>The operator's note, or null when cancelled.</summary>
		private static string Ask(IEngine engine, AlarmRef alarm)
		{
			string problem = string.Empty;
			string text = string.Empty;
			while (true)
			{
				var uib = new UIBuilder { Title = "Add Note to Ticket", RequireResponse = true, Width = 520, ColumnDefs = "250;250", RowDefs = "auto;140;auto;auto" };
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = "Note for the Oceane ticket of alarm " + alarm, Row = 0, Column = 0, ColumnSpan = 2 });
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.TextBox, DestVar = "note", InitialValue = text, IsMultiline = true, Row = 1, Column = 0, ColumnSpan = 2, Height = 130 });
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = problem, Row = 2, Column = 0, ColumnSpan = 2 });
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Add Note", DestVar = AddButton, Row = 3, Column = 0 });
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Cancel", DestVar = CancelButton, Row = 3, Column = 1 });
				UIResults uir = engine.ShowUI(uib);
				if (!uir.WasButtonPressed(AddButton))
				{
					return null;
				}

				text = uir.GetString("note") ?? string.Empty;
				if (text.Trim().Length == 0)
				{
					problem = "The note is empty.";
				}
				else if (text.Length > MaxNote)
				{
					problem = "At most " + MaxNote + " characters.";
				}
				else
				{
					return text.Trim();
				}
			}
		}

		private static void Tell(IEngine engine, string message)
		{
			var uib = new UIBuilder { Title = "Add Note to Ticket", RequireResponse = true, Width = 520, ColumnDefs = "500", RowDefs = "auto;auto" };
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = message, Row = 0, Column = 0 });
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Close", DestVar = "close", Row = 1, Column = 0 });
			engine.ShowUI(uib);
		}
	}
}
