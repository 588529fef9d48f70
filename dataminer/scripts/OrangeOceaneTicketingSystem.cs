// Automation script "Orange Oceane Ticketing System": the Alarm Console's Create Ticket hyperlink runs it.
// Interactive: for the alarm, or every alarm of a selection (the hyperlink has combineParameters="true"), it shows
// the ticket an alarm already has, asks Priority, Urgency, Technical Impact (required), Client Impact and
// Description once for the others, sends one request per alarm to the oceane-ticket intake and shows the outcome
// of each (created, already had one, queued, refused and why). Parameters: DMA ID, Element ID, Alarm ID, Element
// Name, Alarm Value, Root Time (the hyperlink's placeholders). The intake's URL and token are read on the Agent
// (IntakeSettings); who writes the ticket onto the alarm comes from the intake (GET /form).
namespace OrangeOceaneTicketingSystem
{
	using System;
	using System.Collections.Generic;
	using System.Globalization;
	using System.Linq;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Automation;

	/// <summary>The script's entry point.</summary>
	public class Script
	{
		/// <summary>How long the intake may hold one alarm's request open for Oceane's answer (the contract allows 60).</summary>
		private const int WaitSeconds = 30;

		/// <summary>Per alarm of a selection: Oceane takes one create at a time, so the rest show as queued.</summary>
		private const int SelectionWaitSeconds = 5;

		private const string Title = "Create Ticket";

		/// <summary>The intake fields the dialog fills: a 422 naming one of them is shown in the dialog to be corrected.</summary>
		private static readonly string[] DialogFields = { "priority", "urgency", "technicalImpact", "clientImpact", "description", "user" };

		/// <summary>Runs the script.</summary>
		/// <param name="engine">Link with SLAutomation.</param>
		public void Run(IEngine engine)
		{
			List<AlarmDetails> alarms;
			IntakeSettings settings;
			try
			{
				alarms = AlarmDetails.FromScript(engine);
				settings = IntakeSettings.Load();
			}
			catch (InputException e)
			{
				Dialogs.Message(engine, Title, "The Create Ticket hyperlink or this Agent is not configured correctly:", e.Message);
				engine.ExitFail(e.Message);
				return;
			}

			string failure = null;
			using (var intake = new IntakeClient(settings))
			{
				try
				{
					Ask(engine, alarms, intake);
				}
				catch (IntakeException e)
				{
					Dialogs.Message(engine, Title, "The ticket service could not be used:", e.Message);
					failure = e.Message;
				}
			}

			if (failure != null)
			{
				engine.ExitFail(failure);
			}
		}

		private static void Ask(IEngine engine, List<AlarmDetails> alarms, IntakeClient intake)
		{
			var lines = new List<string>();
			var todo = new List<AlarmDetails>();
			var previous = new List<TicketAnswer>();
			FormSpec form = null;
			foreach (AlarmDetails alarm in alarms)
			{
				TicketAnswer existing = intake.FindTicket(alarm.Alarm);
				if (existing != null && !existing.IsFailed && !existing.IsFinalInOceane)
				{
					form = form ?? intake.GetForm();
					lines.AddRange(Outcome(engine, alarms.Count, alarm, form.Writer, existing, true));
				}
				else
				{
					todo.Add(alarm);
					previous.Add(existing);
				}
			}

			if (todo.Count == 0)
			{
				Dialogs.Message(engine, Title, lines.ToArray());
				return;
			}

			form = form ?? intake.GetForm();
			var details = new TicketDetails { User = engine.UserLoginName };
			string problem = previous.Where(p => p != null && p.IsFailed).Select(p => "The previous ticket request for this alarm failed: " + p.Error).FirstOrDefault();
			if (alarms.Count > 1)
			{
				problem = Join(problem, todo.Count.ToString(CultureInfo.InvariantCulture) + " of the " + alarms.Count.ToString(CultureInfo.InvariantCulture)
					+ " selected alarms get a ticket with these details; the others already have one.");
			}

			int wait = todo.Count == 1 ? WaitSeconds : SelectionWaitSeconds;
			while (true)
			{
				if (!Dialogs.TicketDetails(engine, todo, form, details, problem))
				{
					engine.AddScriptOutput("status", "cancelled");
					if (lines.Count > 0)
					{
						Dialogs.Message(engine, Title, lines.ToArray());
					}

					return;
				}

				problem = details.Check(form);
				if (problem != null)
				{
					continue;
				}

				problem = Send(engine, alarms.Count, todo, form, details, intake, wait, lines);
				if (problem == null)
				{
					Dialogs.Message(engine, Title, lines.ToArray());
					return;
				}
			}
		}

		/// <summary>Sends one request per alarm still to do; a dialog field's problem (nothing sent yet), or null when done.</summary>
		private static string Send(IEngine engine, int selected, List<AlarmDetails> todo, FormSpec form, TicketDetails details, IntakeClient intake, int wait, List<string> lines)
		{
			while (todo.Count > 0)
			{
				AlarmDetails alarm = todo[0];
				TicketAnswer answer;
				try
				{
					answer = intake.CreateTicket(alarm, details, wait);
				}
				catch (IntakeException e)
				{
					if (e.StatusCode != 422)
					{
						throw;
					}

					if (DialogFields.Contains(e.Field))
					{
						// The intake names the field and what it allows: the operator fixes it in the dialog, for every alarm left.
						return e.Detail;
					}

					lines.Add(Label(selected, alarm) + "refused: " + e.Detail);
					todo.RemoveAt(0);
					continue;
				}

				lines.AddRange(Outcome(engine, selected, alarm, form.Writer, answer, answer.Existing));
				todo.RemoveAt(0);
			}

			return null;
		}

		private static IEnumerable<string> Outcome(IEngine engine, int selected, AlarmDetails alarm, AlarmWriter writer, TicketAnswer answer, bool existing)
		{
			engine.AddScriptOutput(selected > 1 ? "status " + alarm.Alarm : "status", answer.Status);
			engine.AddScriptOutput(selected > 1 ? "instance " + alarm.Alarm : "instance", answer.Instance);
			string label = Label(selected, alarm);
			var lines = new List<string>();
			if (answer.IsCreated)
			{
				engine.AddScriptOutput(selected > 1 ? "ticketId " + alarm.Alarm : "ticketId", answer.TicketId);
				engine.AddScriptOutput(selected > 1 ? "ticketUrl " + alarm.Alarm : "ticketUrl", answer.TicketUrl);
				lines.Add(label + (existing ? "This alarm already has Oceane ticket " : "Oceane ticket created: ") + answer.TicketId);
				lines.Add(answer.TicketUrl);
				if (writer == AlarmWriter.None)
				{
					// No worker write-back configured: this script is the one that marks the alarm.
					string problem = PropertyUpdate.TryWriteTicket(engine, alarm.Alarm, answer);
					if (problem != null)
					{
						lines.Add("The ticket exists, but it " + problem);
					}
				}
			}
			else if (answer.IsFailed)
			{
				lines.Add(label + "Oceane did not create the ticket.");
				lines.Add(answer.Error);
			}
			else
			{
				lines.Add(label + (existing ? "This alarm already has a ticket request (" : "Ticket request queued (")
					+ answer.Instance + ", " + answer.Status + ").");
				lines.Add(writer == AlarmWriter.None
					? "Oceane has not answered yet. Use Create Ticket again later to see the ticket and write it onto the alarm."
					: "Oceane has not answered yet. The alarm gets the Oceane Ticket ID and URL as soon as the ticket exists.");
			}

			return lines;
		}

		private static string Label(int selected, AlarmDetails alarm)
		{
			return selected > 1 ? "Alarm " + alarm.Alarm + " (" + alarm.ElementName + "): " : string.Empty;
		}

		private static string Join(string first, string second)
		{
			return string.IsNullOrEmpty(first) ? second : first + " " + second;
		}
	}

	/// <summary>The dialogs, built with UIBuilder (part of every DataMiner; nothing extra to install).</summary>
	internal static class Dialogs
	{
		private const string CreateButton = "create";
		private const string CancelButton = "cancel";
		private const string CloseButton = "close";

		/// <summary>Shows the ticket form once for every alarm; fills <paramref name="request"/>; false when the operator cancels.</summary>
		public static bool TicketDetails(IEngine engine, List<AlarmDetails> alarms, FormSpec form, TicketDetails request, string problem)
		{
			var uib = new UIBuilder
			{
				Title = "Create Oceane ticket",
				RequireResponse = true,
				Width = 560,
				ColumnDefs = "160;360",
				RowDefs = "auto;auto;auto;auto;auto;auto;120;auto;auto",
			};
			int row = 0;
			AddText(uib, row++, alarms.Count == 1
				? alarms[0].ElementName + " - " + alarms[0].AlarmValue + " (alarm " + alarms[0].Alarm + ")"
				: alarms.Count.ToString(CultureInfo.InvariantCulture) + " alarms: " + string.Join(", ", alarms.Select(a => a.ElementName + " (" + a.Alarm + ")")));
			AddDropDown(uib, row++, "Priority *", "priority", form.Priorities, request.Priority, true);
			AddDropDown(uib, row++, "Urgency *", "urgency", form.Urgencies, request.Urgency, true);
			AddDropDown(uib, row++, "Technical Impact *", "technicalImpact", form.TechnicalImpacts, request.TechnicalImpact, true);
			AddDropDown(uib, row++, "Client Impact", "clientImpact", form.ClientImpacts, request.ClientImpact, false);
			AddText(uib, row++, "Description (at most " + form.DescriptionMaxLength.ToString(CultureInfo.InvariantCulture) + " characters)");
			uib.AppendBlock(new UIBlockDefinition
			{
				Type = UIBlockType.TextBox,
				DestVar = "description",
				InitialValue = request.Description ?? string.Empty,
				IsMultiline = true,
				Row = row++,
				Column = 0,
				ColumnSpan = 2,
				Height = 110,
			});
			AddText(uib, row++, problem ?? string.Empty);
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Create Ticket", DestVar = CreateButton, Row = row, Column = 0 });
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Cancel", DestVar = CancelButton, Row = row, Column = 1 });

			UIResults uir = engine.ShowUI(uib);
			request.Priority = uir.GetString("priority").Trim();
			request.Urgency = uir.GetString("urgency").Trim();
			request.TechnicalImpact = uir.GetString("technicalImpact").Trim();
			request.ClientImpact = uir.GetString("clientImpact").Trim();
			request.Description = uir.GetString("description");
			return uir.WasButtonPressed(CreateButton);
		}

		/// <summary>Shows some lines of text and a Close button.</summary>
		public static void Message(IEngine engine, string title, params string[] lines)
		{
			var uib = new UIBuilder { Title = title, RequireResponse = true, Width = 520, ColumnDefs = "500" };
			var rows = new List<string>();
			int row = 0;
			foreach (string line in lines)
			{
				rows.Add("auto");
				uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = line ?? string.Empty, Row = row++, Column = 0 });
			}

			rows.Add("auto");
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.Button, Text = "Close", DestVar = CloseButton, Row = row, Column = 0 });
			uib.RowDefs = string.Join(";", rows);
			engine.ShowUI(uib);
		}

		private static void AddText(UIBuilder uib, int row, string text)
		{
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = text, Row = row, Column = 0, ColumnSpan = 2 });
		}

		private static void AddDropDown(UIBuilder uib, int row, string label, string destVar, IList<string> options, string current, bool required)
		{
			uib.AppendBlock(new UIBlockDefinition { Type = UIBlockType.StaticText, Text = label, Row = row, Column = 0 });
			var dropDown = new UIBlockDefinition
			{
				Type = UIBlockType.DropDown,
				DestVar = destVar,
				InitialValue = current ?? string.Empty,
				Row = row,
				Column = 1,
				Width = 340,
				IsRequired = required, // marks the empty control invalid (DataMiner 10.0.5+); Check() decides
			};
			// An empty first choice: a required field is never silently pre-filled with the first value.
			dropDown.AddDropDownOption(string.Empty);
			foreach (string option in options)
			{
				dropDown.AddDropDownOption(option);
			}

			uib.AppendBlock(dropDown);
		}
	}
}
